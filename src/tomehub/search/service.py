"""Search: hybrid retrieval over the user's library, degrading by tiers instead of failing.

* Tier 1 — hybrid: BM25 and vectors fused by RRF (optionally with LLM rephrasings of the query).
* Tier 2 — keyword only: the query could not be embedded (breaker open, provider down, no time left).
* Tier 3 — cached: the same query, filters and versions answered before; served when the query
  cannot be embedded but the library has not changed since, or when the database cannot answer
  (then possibly stale, and marked so).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tomehub.config import SearchSettings
from tomehub.errors import BadInput, DeadlineExceeded, Unavailable
from tomehub.llm.base import Embedder, LLMError, ProviderRateLimited, ProviderTimeout
from tomehub.metrics import SEARCH_TIER
from tomehub.resilience.admission import Shed, overloaded
from tomehub.resilience.breaker import BreakerOpen
from tomehub.resilience.bulkhead import BulkheadFull
from tomehub.resilience.deadline import Deadline
from tomehub.resilience.pacing import PacedOut
from tomehub.search import repo
from tomehub.search.expansion import QueryExpander
from tomehub.search.fusion import rrf
from tomehub.search.repo import DenseSpace, SearchStatements
from tomehub.search.schemas import TIER_NAMES, Hit, SearchFilters, SearchOut, Tier
from tomehub.store.cache import Cache, cache_key
from tomehub.store.db import Database

_log = logging.getLogger(__name__)


def degradation_reason(exc: BaseException) -> str:
    """Names why a model call did not happen or failed, for clients and dashboards."""
    if isinstance(exc, BreakerOpen):
        return "breaker_open"
    if isinstance(exc, BulkheadFull | Shed):
        return "busy"
    if isinstance(exc, ProviderRateLimited | PacedOut):
        return "rate_limited"
    if isinstance(exc, ProviderTimeout | DeadlineExceeded):
        return "timeout"
    return "provider_error"


@dataclass(frozen=True)
class SupportingQuery:
    """A second keyword query whose ranked list joins the fusion at ``weight`` (the query's own
    list weighs 1): a chat follow-up's previous question with the new message, when no model
    condenses them (chats/followup.py)."""

    text: str
    weight: float


@dataclass
class Retrieval:
    """A search result plus what the answerer needs beside the hits."""

    result: SearchOut
    query_lexemes: list[str]
    query_vector: list[float] | None = None


class Searcher:
    """Runs searches for one embedding space (the statements are composed once)."""

    def __init__(
        self,
        *,
        db: Database,
        embedder: Embedder,
        settings: SearchSettings,
        cache: Cache | None = None,
        expander: QueryExpander | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings
        self.cache = cache or Cache(max_bytes=8 * 1024 * 1024, ttl_s=600)
        self.expander = expander
        self.statements = SearchStatements(DenseSpace(embedder.model, embedder.version, embedder.dim))

    def resolve_limit(self, limit: int | None) -> int:
        if limit is None:
            return self.settings.default_limit
        if limit > self.settings.max_limit:
            raise BadInput(f"'limit' can be at most {self.settings.max_limit}.")
        return limit

    async def search(
        self,
        *,
        user_id: int,
        query: str,
        limit: int | None,
        filters: SearchFilters | None,
        deadline: Deadline,
        dense: bool = True,
        expand: bool | None = None,
        route: str = "smart-search",
        supporting: SupportingQuery | None = None,
    ) -> Retrieval:
        """Returns the best chunks for ``query`` with the tier that produced them; ``dense=False``
        asks for keyword retrieval only; ``supporting`` fuses a second keyword list in."""
        started = time.perf_counter()
        query = query.strip()
        if not query:
            raise BadInput("The query is blank; type what you are looking for.")
        if len(query) > self.settings.max_query_chars:
            raise BadInput(f"The query is longer than {self.settings.max_query_chars} characters; shorten it.")
        n = self.resolve_limit(limit)
        filters = filters if filters is not None and not filters.is_empty() else None
        wants_expansion = dense and self._wants_expansion(expand)
        key = cache_key(
            "search", user_id, query, filters.model_dump(mode="json") if filters else None, n,
            self.embedder.model, self.embedder.version, wants_expansion,
            *(() if supporting is None else ("supporting", supporting.text, supporting.weight)),
        )  # fmt: skip
        try:
            if dense:
                # A result cached for this very library revision is as good as a new one.
                current = await self._cached(key, user_id=user_id, deadline=deadline)
                if current is not None:
                    return self._done(current, started, route)
            # Identical searches arriving together share one embedding and one statement.
            shared = await self.cache.single_flight(
                f"{key}:{dense}",
                lambda: self._retrieve(user_id, query, n, filters, deadline, dense, wants_expansion, key, supporting),
            )
        except (Unavailable, DeadlineExceeded) as exc:
            fallback = await self._cached(key, user_id=None, deadline=deadline)
            if fallback is None:
                raise
            _log.warning("search served from cache (%s)", exc.__class__.__name__)
            return self._done(fallback, started, route)
        # Searches that shared one retrieval each get their own result (took_ms, flags) and list of
        # hits; the hits themselves are never changed after they are built, so they are shared (a
        # deep copy of them took a twentieth of the API's CPU per search).
        result = shared.result.model_copy(update={"hits": list(shared.result.hits)})
        return self._done(Retrieval(result, shared.query_lexemes, shared.query_vector), started, route)

    async def _retrieve(
        self,
        user_id: int,
        query: str,
        n: int,
        filters: SearchFilters | None,
        deadline: Deadline,
        dense: bool,
        expand: bool,
        key: str,
        supporting: SupportingQuery | None = None,
    ) -> Retrieval:
        qvec, degraded = await self._query_vector(query, deadline) if dense else (None, None)
        if dense and qvec is None and not self.settings.degrade_to_keywords:
            raise Unavailable(f"The query could not be embedded ({degraded}).", retry_after_s=1.0)
        if dense and qvec is None:
            # Without a query vector, the same question answered earlier on this very library is
            # better than keyword retrieval.
            cached = await self._cached(key, user_id=user_id, deadline=deadline, tier=Tier.CACHED)
            if cached is not None:
                cached.result.degraded = degraded
                return cached
        rows = await self._run(user_id, query, qvec, n, filters, deadline)
        tier = Tier.HYBRID if qvec is not None else Tier.KEYWORD
        hits = [Hit.model_validate(r) for r in rows]
        lexemes = list(rows[0]["query_lexemes"]) if rows else []
        variants: list[str] = []
        if tier is Tier.HYBRID and expand:
            hits, variants = await self._expand(user_id, query, hits, n, filters, deadline)
        if supporting is not None:
            hits = await self._support(user_id, supporting, hits, n, filters, deadline)
        result = SearchOut(query=query, tier=tier, tier_name=TIER_NAMES[tier], hits=hits, took_ms=0.0,
                           expanded_queries=variants, degraded=degraded)  # fmt: skip
        if tier is Tier.HYBRID and rows:
            revision = int(rows[0]["revision"])
            await self.cache.set(key, f"{revision}\n".encode() + result.model_dump_json().encode())
        return Retrieval(result=result, query_lexemes=lexemes, query_vector=qvec)

    def _done(self, retrieval: Retrieval, started: float, route: str) -> Retrieval:
        retrieval.result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        SEARCH_TIER.labels(route, str(int(retrieval.result.tier))).inc()
        return retrieval

    async def _cached(
        self, key: str, *, user_id: int | None, deadline: Deadline, tier: Tier = Tier.HYBRID
    ) -> Retrieval | None:
        """Returns a cached result. With ``user_id``: only if it was computed on the library's
        current revision (one small query), served as ``tier``. Without (the database cannot
        answer): whatever was cached last, as tier 3, marked stale."""
        raw = await self.cache.get(key)
        if raw is None:
            return None
        stored_revision, _, body = raw.partition(b"\n")
        result = SearchOut.model_validate_json(body)
        result.cached = True
        if user_id is not None:
            # The revision is read where the search would run, so the two agree under replica lag.
            async with self.db.search(deadline) as conn:
                if int(stored_revision) != await repo.library_revision(conn, user_id=user_id):
                    return None
        else:
            tier, result.stale = Tier.CACHED, True
        result.tier, result.tier_name = tier, TIER_NAMES[tier]
        return Retrieval(result=result, query_lexemes=[])

    async def _run(
        self,
        user_id: int,
        query: str,
        qvec: list[float] | None,
        n: int,
        filters: SearchFilters | None,
        deadline: Deadline,
    ) -> list[dict[str, Any]]:
        params = repo.search_params(
            user_id=user_id, query=query, qvec=qvec, limit=n, filters=filters, settings=self.settings
        )
        async with self.db.search(deadline) as conn:
            return await repo.run_search(
                conn, self.statements, params, hybrid=qvec is not None, filtered=filters is not None
            )

    async def _query_vector(self, query: str, deadline: Deadline) -> tuple[list[float] | None, str | None]:
        """Returns the query's vector, or None and the reason it could not be had."""
        key = cache_key("qvec", self.embedder.model, self.embedder.version, query)
        # Keep time for the keyword fallback should the provider use all it is given.
        budget = deadline.sooner(self.settings.fallback_reserve_s)

        async def embed() -> bytes:
            if overloaded():
                # A brownout: while the worker's queue stands, a search is answered from keywords
                # (tier 2, "busy") instead of spending a provider call and the hybrid statement. With
                # the provider at 4 s (stress scenario 5, stop 25) answers' p95 fell from 5.0 to 0.8 s.
                raise Shed("The worker is overloaded; answered from keywords.")
            vector = await self.embedder.embed_query(query, deadline=budget)
            return np.asarray(vector, dtype=np.float32).tobytes()

        try:
            raw = await self.cache.get_or_compute(key, embed)
        except (LLMError, Unavailable, DeadlineExceeded) as exc:
            # Tier 2: keyword retrieval still answers; the tier tells the client why it differs. Debug
            # only: during an outage every search lands here (the breaker logs its transitions and
            # tomehub_search_tier_total counts the searches).
            _log.debug("query embedding unavailable (%s); keyword-only search", exc.__class__.__name__)
            return None, degradation_reason(exc)
        return [float(x) for x in np.frombuffer(raw, dtype=np.float32)], None

    def _wants_expansion(self, expand: bool | None) -> bool:
        if self.expander is None or not self.expander.available:
            return False
        return self.settings.expand_queries if expand is None else expand

    async def _expand(
        self, user_id: int, query: str, hits: list[Hit], n: int, filters: SearchFilters | None, deadline: Deadline
    ) -> tuple[list[Hit], list[str]]:
        assert self.expander is not None
        variants = await self.expander.variants(query, deadline=deadline)
        lists = [hits]
        used: list[str] = []
        for variant in variants:
            if deadline.remaining() < 0.5:
                break
            qvec, _ = await self._query_vector(variant, deadline)
            try:
                rows = await self._run(user_id, variant, qvec, n, filters, deadline)
            except (Unavailable, DeadlineExceeded):
                break
            lists.append([Hit.model_validate(r) for r in rows])
            used.append(variant)
        if not used:
            return hits, []
        return self._fuse(lists, n), used

    async def _support(
        self,
        user_id: int,
        supporting: SupportingQuery,
        hits: list[Hit],
        n: int,
        filters: SearchFilters | None,
        deadline: Deadline,
    ) -> list[Hit]:
        """Returns ``hits`` fused with the keyword hits of the supporting query at its weight (or
        ``hits`` as they were when the database cannot run it in time)."""
        try:
            rows = await self._run(user_id, supporting.text, None, n, filters, deadline)
        except (Unavailable, DeadlineExceeded) as exc:
            _log.info("supporting query skipped (%s)", exc.__class__.__name__)
            return hits
        extra = [Hit.model_validate(r) for r in rows]
        return self._fuse([hits, extra], n, weights=[1.0, supporting.weight])

    def _fuse(self, lists: list[list[Hit]], n: int, weights: list[float] | None = None) -> list[Hit]:
        """Returns the top ``n`` of ranked hit lists fused by RRF (a hit keeps the details of the
        first list that found it)."""
        by_id: dict[int, Hit] = {}
        for ranked in lists:
            for h in ranked:
                by_id.setdefault(h.chunk_id, h)
        fused = rrf([[h.chunk_id for h in ranked] for ranked in lists], k=self.settings.rrf_k, weights=weights)[:n]
        return [by_id[chunk_id].model_copy(update={"score": score}) for chunk_id, score in fused]
