"""Follow-ups: how a message that leans on the conversation ("and what did he say about death?") is
searched, and which earlier turns the writer sees.

* With a chat model on the ``condense`` route, the history and the message are rewritten as one
  standalone search query (its own operation: own breaker, timeout and cache, like query expansion).
* Without one, or when condensing fails, is skipped under pressure or has no time: **the rule**.
  The message is searched as it is, and a second keyword list, for the previous question followed
  by this message, joins the Reciprocal Rank Fusion at ``chats.followup_weight`` (0.5: the message's
  own list weighs 1). A passage both lists find (it matches the message and the earlier question's
  names) rises above one only the message finds; the message's own best still leads any passage
  only the earlier question finds.

The writer sees the latest turns, newest first, up to ``chats.history_tokens`` tokens counted by
the embedding model's tokenizer (the unit chunks are cut in); citation marks and a ``Sources:``
list (a /v1 client sends its earlier answers back with them) are removed from earlier answers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tomehub.answer.base import Turn
from tomehub.chats.schemas import FollowUpMode
from tomehub.config import ChatSettings
from tomehub.errors import DeadlineExceeded, Unavailable
from tomehub.llm.base import LLMError
from tomehub.llm.gateway import LLMGateway, Operation
from tomehub.llm.prompts import Prompts, condense_messages
from tomehub.resilience.deadline import Deadline
from tomehub.search.service import SupportingQuery
from tomehub.store.cache import Cache, cache_key

_log = logging.getLogger(__name__)

_CITATION = re.compile(r"\s*\[\d{1,18}\]")
_SOURCES = re.compile(r"\n\s*Sources:\s*\n.*\Z", re.DOTALL)
# A condensed query is a search query, not an essay: longer replies are cut.
_MAX_QUERY_CHARS = 300


@dataclass(frozen=True)
class FollowUp:
    """How one message is searched and what the writer sees beside it."""

    search_query: str
    mode: FollowUpMode | None = None
    supporting: SupportingQuery | None = None
    history: tuple[Turn, ...] = ()


def clean_turn(turn: Turn) -> Turn:
    """Returns a turn without citation marks or a trailing sources list (they name passages of
    an earlier answer, which the writer must not cite now)."""
    text = turn.content
    if turn.role == "assistant":
        text = _CITATION.sub("", _SOURCES.sub("", text))
    return Turn(role=turn.role, content=" ".join(text.split()))


def recent_turns(history: Sequence[Turn], *, budget_tokens: int, count_tokens: Callable[[str], int]) -> list[Turn]:
    """Returns the latest turns that fit ``budget_tokens``, oldest first; the turn that crosses the
    budget keeps its beginning."""
    kept: list[Turn] = []
    left = budget_tokens
    for turn in reversed(history):
        turn = clean_turn(turn)
        if not turn.content:
            continue
        tokens = count_tokens(turn.content)
        if tokens > left:
            cut = _cut(turn.content, left, count_tokens)
            if cut:
                kept.append(Turn(role=turn.role, content=cut))
            break
        kept.append(turn)
        left -= tokens
    kept.reverse()
    return kept


def _cut(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """Returns the longest beginning of ``text`` (whole words, then "…") within ``budget`` tokens,
    found by a few proportional guesses rather than counting word by word."""
    if budget < 8:
        return ""
    words = text.split()
    n = max(1, len(words) * budget // max(1, count_tokens(text)))
    while n > 0:
        candidate = " ".join(words[:n]) + " …"
        if count_tokens(candidate) <= budget:
            return candidate
        n = n * 4 // 5
    return ""


def previous_question(history: Sequence[Turn]) -> str | None:
    """Returns the latest earlier question of the user, if any."""
    for turn in reversed(history):
        if turn.role == "user" and turn.content.strip():
            return " ".join(turn.content.split())
    return None


class Condenser:
    """Rewrites a follow-up and its history as one standalone search query (the ``condense``
    operation). Optional work: cached, and skipped under pressure or without time."""

    def __init__(self, *, gateway: LLMGateway, prompts: Prompts, cache: Cache, min_time_left_s: float) -> None:
        self.gateway = gateway
        self.prompts = prompts
        self.cache = cache
        self.min_time_left_s = min_time_left_s

    @property
    def available(self) -> bool:
        return self.gateway.has(Operation.CONDENSE)

    def _key(self, history: Sequence[Turn], message: str) -> str:
        route = self.gateway.route(Operation.CONDENSE)
        model = getattr(route.provider, "chat_model", route.provider_name)
        turns = [(t.role, t.content) for t in history]
        return cache_key("condense", turns, message, model, self.prompts.hash)

    async def condense(self, history: Sequence[Turn], message: str, *, deadline: Deadline) -> str | None:
        """Returns the standalone query, or None when condensing is off, skipped or failing."""
        if not self.available:
            return None
        key = self._key(history, message)
        cached = self.cache.peek(key)
        if cached is not None:
            return cached.decode() or None
        if deadline.remaining() < self.min_time_left_s:
            return None
        if await self.gateway.under_pressure(Operation.CONDENSE):
            return None
        turns = [(t.role, t.content) for t in history]

        async def ask() -> bytes:
            reply = await self.gateway.complete(
                Operation.CONDENSE, condense_messages(self.prompts, turns, message), deadline=deadline, json_mode=True
            )
            query = json.loads(reply).get("query")
            if not isinstance(query, str):
                raise ValueError("the reply has no query")
            return " ".join(query.split())[:_MAX_QUERY_CHARS].encode()

        try:
            query = (await self.cache.get_or_compute(key, ask)).decode()
        except (LLMError, Unavailable, DeadlineExceeded, ValueError, AttributeError) as exc:
            _log.info("condensing skipped: %s", exc.__class__.__name__)
            return None
        return query or None


class FollowUps:
    """Decides how a message in a conversation is searched (see the module docstring)."""

    def __init__(
        self, *, settings: ChatSettings, count_tokens: Callable[[str], int], condenser: Condenser | None = None
    ) -> None:
        self.settings = settings
        self.count_tokens = count_tokens
        self.condenser = condenser

    async def resolve(self, *, history: Sequence[Turn], message: str, deadline: Deadline) -> FollowUp:
        """Returns how ``message`` is searched given the earlier turns ``history``."""
        turns = tuple(recent_turns(history, budget_tokens=self.settings.history_tokens, count_tokens=self.count_tokens))
        # The earlier question is looked for in the whole history: a long last answer may have
        # taken the writer's whole budget.
        previous = previous_question(history)
        if previous is None:
            # No earlier question: nothing to follow up on (a first message searches as /api/search does).
            return FollowUp(search_query=message, history=turns)
        if self.condenser is not None:
            condensed = await self.condenser.condense(turns, message, deadline=deadline)
            if condensed:
                return FollowUp(search_query=condensed, mode=FollowUpMode.CONDENSED, history=turns)
        supporting = SupportingQuery(
            text=f"{previous} {' '.join(message.split())}", weight=self.settings.followup_weight
        )
        return FollowUp(search_query=message, mode=FollowUpMode.RULE, supporting=supporting, history=turns)
