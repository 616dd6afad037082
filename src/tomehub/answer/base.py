"""What an answerer is: it writes an answer from retrieved chunks, citing them as ``[chunk id]``.

The extractive answerer is the offline default; an LLM answerer implements the same protocol.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from tomehub.resilience.deadline import Deadline
from tomehub.search.schemas import Hit

CITATION = re.compile(r"\[(\d{1,18})\]")


@dataclass(frozen=True)
class Turn:
    """An earlier message of a conversation: ``role`` is "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class AnswerContext:
    """What the answerer may use: the question, the ranked chunks, the query's lexemes, and the
    conversation's earlier turns (a follow-up in a chat; empty for a single question)."""

    question: str
    hits: list[Hit]
    query_lexemes: list[str]
    history: tuple[Turn, ...] = ()


class Answerer(Protocol):
    """Streams an answer as text pieces; citations are ``[chunk id]`` markers inside the text."""

    @property
    def name(self) -> str:
        """Who wrote the answer ("extractive", "llm"), reported with every answer."""
        ...

    def stream(
        self, context: AnswerContext, *, deadline: Deadline, first_piece_by: Deadline | None = None
    ) -> AsyncIterator[str]:
        """Yields the answer piece by piece; the first by ``first_piece_by`` (default: ``deadline``)."""
        ...


def cited_ids(answer: str) -> list[int]:
    """Returns the chunk ids cited in ``answer``, in first-cited order."""
    return list(dict.fromkeys(int(m) for m in CITATION.findall(answer)))
