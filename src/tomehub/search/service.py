"""Search: hybrid retrieval over the user's library, degrading to keyword-only when the query cannot
be embedded."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from tomehub.config import SearchSettings
from tomehub.errors import BadInput, DeadlineExceeded, Unavailable
from tomehub.llm.base import Embedder, LLMError
from tomehub.resilience.deadline import Deadline
from tomehub.search import repo
from tomehub.search.repo import DenseSpace, SearchStatements
from tomehub.search.schemas import TIER_NAMES, Hit, SearchFilters, SearchOut, Tier
from tomehub.store.db import Database

_log = logging.getLogger(__name__)


@dataclass
class Retrieval:
    """A search result plus what the answerer needs beside the hits."""

    result: SearchOut
    query_lexemes: list[str]


class Searcher:
    """Runs searches for one embedding space (the statements are composed once)."""

    def __init__(self, *, db: Database, embedder: Embedder, settings: SearchSettings) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings
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
    ) -> Retrieval:
        """Returns the best chunks for ``query`` with the tier that produced them; ``dense=False``
        asks for keyword retrieval only."""
        started = time.perf_counter()
        query = query.strip()
        if not query:
            raise BadInput("The query is blank; type what you are looking for.")
        if len(query) > self.settings.max_query_chars:
            raise BadInput(f"The query is longer than {self.settings.max_query_chars} characters; shorten it.")
        n = self.resolve_limit(limit)
        qvec = await self._embed(query, deadline) if dense else None
        tier = Tier.HYBRID if qvec is not None else Tier.KEYWORD
        filtered = filters is not None and not filters.is_empty()
        statement = self.statements.get(hybrid=qvec is not None, filtered=filtered)
        params = repo.search_params(
            user_id=user_id, query=query, qvec=qvec, limit=n, filters=filters, settings=self.settings
        )
        async with self.db.read(deadline) as conn:
            rows = await repo.run_search(conn, statement, params)
        hits = [Hit.model_validate(r) for r in rows]
        took_ms = (time.perf_counter() - started) * 1000
        result = SearchOut(query=query, tier=tier, tier_name=TIER_NAMES[tier], hits=hits, took_ms=round(took_ms, 2))
        lexemes = list(rows[0]["query_lexemes"]) if rows else []
        return Retrieval(result=result, query_lexemes=lexemes)

    async def _embed(self, query: str, deadline: Deadline) -> list[float] | None:
        try:
            vector = await self.embedder.embed_query(query, deadline=deadline)
        except (LLMError, Unavailable, DeadlineExceeded) as exc:
            # Tier 2: keyword retrieval still answers; the tier tells the client why it differs.
            _log.warning("query embedding unavailable (%s); keyword-only search", exc.__class__.__name__)
            return None
        return [float(x) for x in vector]
