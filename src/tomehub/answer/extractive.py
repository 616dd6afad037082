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
_HEADING_MAX_CHARS = 60


@dataclass(frozen=True)
class _Sentence:
    text: str
    chunk_id: int
    hit_rank: int
    position: int
    score: float


def split_sentences(text: str) -> list[str]:
    """Returns the sentences of ``text`` (whitespace collapsed). A short unpunctuated line between a
    finished sentence and a capitalised line is a heading and stands alone; other line breaks are
    the wrapping of a paragraph (as in PDF text)."""
    sentences = []
    for part in _SENTENCE_END.split(text):
        lines = [line.strip() for line in part.split("\n") if line.strip()]
        run: list[str] = []
        for n, line in enumerate(lines):
            after_sentence = n == 0 or lines[n - 1][-1] in _CLOSERS
            before_capital = n + 1 < len(lines) and lines[n + 1][0].isupper()
            if len(line) <= _HEADING_MAX_CHARS and line[-1] not in _CLOSERS and after_sentence and before_capital:
                if run:
                    sentences.append(" ".join(run))
                    run = []
                sentences.append(line)
            else:
                run.append(line)
        if run:
            sentences.append(" ".join(run))
    return [" ".join(s.split()) for s in sentences]


_OPENERS = '"“‘(['
_CLOSERS = '.!?…"”’)]:'


def _complete(sentence: str) -> bool:
    """True when the sentence starts like a sentence and ends like one."""
    starts = sentence[0].isupper() or sentence[0].isdigit() or sentence[0] in _OPENERS
    return starts and sentence.rstrip()[-1] in _CLOSERS


def _matches(words: list[str], lexeme: str) -> bool:
    # Snowball stems are prefixes of their word forms in nearly every case ("dasein", "heidegg").
    return any(w.startswith(lexeme) for w in words)


class ExtractiveAnswerer:
    """Quotes the best-matching sentences of the retrieved chunks."""

    name = "extractive"

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def select(self, context: AnswerContext) -> list[_Sentence]:
        """Returns the chosen sentences, the most relevant first."""
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
                # A sentence that opens with the question's subject is usually its definition.
                if any(_matches(words[:3], lx) for lx in lexemes):
                    score += 0.1
                # Chunks start and end mid-sentence; such fragments read badly as an answer.
                if not _complete(sentence):
                    score -= 1.0
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
            # Overlapping chunks repeat sentences (or their tails); quote each once.
            if any(key in other for other in seen):
                continue
            if length + len(cand.text) > self.settings.max_answer_chars and chosen:
                continue
            chosen.append(cand)
            seen.add(key)
            length += len(cand.text)
            if len(chosen) >= self.settings.max_sentences:
                break
        return chosen

    def compose(self, context: AnswerContext) -> str:
        """Returns the whole answer text."""
        return " ".join(f"{s.text} [{s.chunk_id}]" for s in self.select(context))

    async def stream(
        self, context: AnswerContext, *, deadline: Deadline, first_piece_by: Deadline | None = None
    ) -> AsyncIterator[str]:
        # Quoting takes milliseconds: the first piece comes at once, or not at all.
        (first_piece_by or deadline).check("the answer")
        answer = self.compose(context)
        # Word by word, so clients render it the way they will render a model's tokens.
        for match in re.finditer(r"\S+\s*", answer):
            yield match.group(0)
