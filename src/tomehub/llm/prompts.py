"""Prompts live in files (``llm/prompts/*.md``); their hash is part of every cache key and answer
record, so editing a prompt can never serve an answer written under the old one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tomehub.llm.base import Message

PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class Prompts:
    answer: str
    judge: str
    expand: str

    @classmethod
    def load(cls, directory: Path = PROMPTS_DIR) -> Prompts:
        return cls(
            answer=(directory / "answer.md").read_text(encoding="utf-8"),
            judge=(directory / "judge.md").read_text(encoding="utf-8"),
            expand=(directory / "expand.md").read_text(encoding="utf-8"),
        )

    @property
    def hash(self) -> str:
        """A short digest of every prompt's text."""
        digest = hashlib.sha256()
        for text in (self.answer, self.judge, self.expand):
            digest.update(text.encode())
            digest.update(b"\x00")
        return digest.hexdigest()[:16]


def passages_block(passages: list[tuple[int, str]]) -> str:
    """Returns the context as the prompts expect it: one ``[id] text`` paragraph per passage."""
    return "\n\n".join(f"[{chunk_id}] {' '.join(text.split())}" for chunk_id, text in passages)


def answer_messages(prompts: Prompts, question: str, passages: list[tuple[int, str]], hints: str = "") -> list[Message]:
    user = f"{passages_block(passages)}\n\nQUESTION: {question}"
    if hints:
        user += f"\n\nA reviewer rejected the previous answer: {hints}"
    return [{"role": "system", "content": prompts.answer}, {"role": "user", "content": user}]


def judge_messages(prompts: Prompts, question: str, passages: list[tuple[int, str]], answer: str) -> list[Message]:
    user = f"{passages_block(passages)}\n\nQUESTION: {question}\n\nANSWER: {answer}"
    return [{"role": "system", "content": prompts.judge}, {"role": "user", "content": user}]


def expand_messages(prompts: Prompts, question: str) -> list[Message]:
    return [{"role": "system", "content": prompts.expand}, {"role": "user", "content": f"QUESTION: {question}"}]
