"""Query expansion: the LLM rewrites a question into up to three search queries; their result lists
are fused with the original's by RRF. Optional work: cached, and skipped under pressure (breaker not
closed, provider busy, too little time left) so it never costs a search its deadline."""

from __future__ import annotations

import json
import logging

from tomehub.config import LLMSettings
from tomehub.errors import DeadlineExceeded, Unavailable
from tomehub.llm.base import LLMError
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.llm.prompts import Prompts, expand_messages
from tomehub.resilience.deadline import Deadline
from tomehub.store.cache import Cache, cache_key

_log = logging.getLogger(__name__)


class QueryExpander:
    def __init__(self, *, gateway: LLMGateway, prompts: Prompts, cache: Cache, settings: LLMSettings) -> None:
        self.gateway = gateway
        self.prompts = prompts
        self.cache = cache
        self.settings = settings

    @property
    def available(self) -> bool:
        return self.gateway.has(Operation.QUERY_EXPANSION)

    def _key(self, query: str) -> str:
        route = self.gateway.route(Operation.QUERY_EXPANSION)
        model = getattr(route.provider, "chat_model", route.provider_name)
        return cache_key("expansion", query, model, self.prompts.hash, self.settings.expansion_variants)

    async def variants(self, query: str, *, deadline: Deadline) -> list[str]:
        """Returns up to N rephrasings of ``query`` (none when expansion is off, skipped or failing)."""
        if not self.available:
            return []
        key = self._key(query)
        cached = self.cache.peek(key)
        if cached is not None:
            return list(json.loads(cached))
        if deadline.remaining() < self.settings.expansion_min_time_left_s:
            return []
        if await self.gateway.under_pressure(Operation.QUERY_EXPANSION):
            return []

        async def ask() -> bytes:
            reply = await self.gateway.complete(
                Operation.QUERY_EXPANSION,
                expand_messages(self.prompts, query),
                deadline=deadline,
                json_mode=True,
                max_tokens=self.settings.expansion_max_tokens or None,
            )
            return json.dumps(
                _clean(query, json.loads(reply).get("queries", []), self.settings.expansion_variants)
            ).encode()

        try:
            return list(json.loads(await self.cache.get_or_compute(key, ask)))
        except (LLMError, Unavailable, DeadlineExceeded, ValueError, AttributeError) as exc:
            _log.info("query expansion skipped: %s", exc.__class__.__name__)
            return []


def _clean(query: str, queries: object, limit: int) -> list[str]:
    """The model's rephrasings that are worth a search: strings with a word in them (a small model
    echoes the prompt's "..." placeholders, or answers objects), not the question again, no repeats."""
    cleaned: list[str] = []
    for q in queries if isinstance(queries, list) else []:
        if not isinstance(q, str):
            continue
        text = " ".join(q.split())[:300]
        if any(c.isalnum() for c in text) and text.lower() != query.lower() and text not in cleaned:
            cleaned.append(text)
    return cleaned[:limit]
