"""The extractive answerer: the sentences of the top chunks that best cover the question, each
followed by the id of the chunk it comes from. No model writes anything; it quotes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tomehub.answer.base import AnswerContext
from tomehub.config import AnswerSettings
from tomehub.resilience.deadline import Deadline

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-ZÇĞİÖŞÜ0-9])|\n{2,}|\n(?=[-*•])")
_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_SENTENCE_CHARS = 25


@dataclass(frozen=True)
class _Sentence:
    text: str
    chunk_id: int
    hit_rank: int
    position: int
    score: float


def split_sentences(text: str) -> list[str]:
    """Returns the sentences of ``text`` (whitespace collapsed)."""
    parts = _SENTENCE_END.split(text)
    return [" ".join(p.split()) for p in parts if p and p.strip()]


def _matches(words: list[str], lexeme: str) -> bool:
    # Snowball stems are prefixes of their word forms in nearly every case ("dasein", "heidegg").
    return any(w.startswith(lexeme) for w in words)


class ExtractiveAnswerer:
    """Quotes the best-matching sentences of the retrieved chunks."""

    name = "extractive"

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def select(self, context: AnswerContext) -> list[_Sentence]:
        """Returns the chosen sentences in reading order (by hit rank, then position)."""
        lexemes = [lx for lx in context.query_lexemes if len(lx) >= 2]
        candidates: list[_Sentence] = []
        hits = context.hits[: self.settings.max_sentences * 2]
        for rank, hit in enumerate(hits):
            for position, sentence in enumerate(split_sentences(hit.text)):
                if len(sentence) < _MIN_SENTENCE_CHARS:
                    continue
                words = [w.lower() for w in _WORD.findall(sentence)]
                matched = sum(1 for lx in lexemes if _matches(words, lx))
                coverage = matched / len(lexemes) if lexemes else 0.0
                # Coverage of the question decides; the chunk's rank and an early position break ties.
                score = coverage + 0.3 / (1 + rank) + 0.05 / (1 + position)
                candidates.append(_Sentence(sentence, hit.chunk_id, rank, position, score))
        if not candidates and context.hits:
            # Only fragments matched (headings, list items): quote the top chunk's beginning.
            top = context.hits[0]
            text = " ".join(top.text.split())[: self.settings.max_answer_chars]
            return [_Sentence(text, top.chunk_id, 0, 0, 0.0)] if text else []
        candidates.sort(key=lambda c: -c.score)
        chosen: list[_Sentence] = []
        seen: set[str] = set()
        length = 0
        for cand in candidates:
            key = cand.text.lower()
            # Overlapping chunks repeat sentences; quote each once.
            if key in seen:
                continue
            if length + len(cand.text) > self.settings.max_answer_chars and chosen:
                continue
            chosen.append(cand)
            seen.add(key)
            length += len(cand.text)
            if len(chosen) >= self.settings.max_sentences:
                break
        return sorted(chosen, key=lambda c: (c.hit_rank, c.position))

    def compose(self, context: AnswerContext) -> str:
        """Returns the whole answer text."""
        return " ".join(f"{s.text} [{s.chunk_id}]" for s in self.select(context))

    async def stream(self, context: AnswerContext, *, deadline: Deadline) -> AsyncIterator[str]:
        deadline.check("the answer")
        answer = self.compose(context)
        # Word by word, so clients render it the way they will render a model's tokens.
        for match in re.finditer(r"\S+\s*", answer):
            yield match.group(0)
