"""Prompts live in files (``llm/prompts/*.md``); their hash is part of every cache key and answer
record, so editing a prompt can never serve an answer written under the old one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tomehub.llm.base import Message

PROMPTS_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class Prompts:
    answer: str
    judge: str
    expand: str
    condense: str

    @classmethod
    def load(cls, directory: Path = PROMPTS_DIR) -> Prompts:
        return cls(
            answer=(directory / "answer.md").read_text(encoding="utf-8"),
            judge=(directory / "judge.md").read_text(encoding="utf-8"),
            expand=(directory / "expand.md").read_text(encoding="utf-8"),
            # Prompt folders made before chats had no condense.md: the packaged one stands in.
            condense=_first_existing(directory / "condense.md", PROMPTS_DIR / "condense.md").read_text("utf-8"),
        )

    @property
    def hash(self) -> str:
        """A short digest of every prompt's text."""
        digest = hashlib.sha256()
        for text in (self.answer, self.judge, self.expand, self.condense):
            digest.update(text.encode())
            digest.update(b"\x00")
        return digest.hexdigest()[:16]


def _first_existing(*paths: Path) -> Path:
    return next((p for p in paths if p.exists()), paths[-1])


def passages_block(passages: list[tuple[int, str]]) -> str:
    """Returns the context as the prompts expect it: one ``[id] text`` paragraph per passage."""
    return "\n\n".join(f"[{chunk_id}] {' '.join(text.split())}" for chunk_id, text in passages)


_CITATION_MARK = re.compile(r"\s*\[\d{1,18}\]")
_ROLE_NAMES = {"user": "Reader", "assistant": "TomeHub"}


def conversation_block(history: Sequence[tuple[str, str]]) -> str:
    """Returns earlier turns as the prompts expect them: one ``Reader: ...`` or ``TomeHub: ...`` line
    per turn, oldest first. Citation marks are dropped: they name passages of earlier turns, which
    the model must not cite now."""
    lines = []
    for role, text in history:
        flat = " ".join(_CITATION_MARK.sub("", text).split())
        if flat:
            lines.append(f"{_ROLE_NAMES.get(role, role)}: {flat}")
    return "\n".join(lines)


def answer_messages(
    prompts: Prompts,
    question: str,
    passages: list[tuple[int, str]],
    hints: str = "",
    history: Sequence[tuple[str, str]] = (),
) -> list[Message]:
    user = f"{passages_block(passages)}\n\nQUESTION: {question}"
    conversation = conversation_block(history)
    if conversation:
        user = f"CONVERSATION SO FAR:\n{conversation}\n\n{user}"
    if hints:
        user += f"\n\nA reviewer rejected the previous answer: {hints}"
    return [{"role": "system", "content": prompts.answer}, {"role": "user", "content": user}]


def judge_messages(prompts: Prompts, question: str, passages: list[tuple[int, str]], answer: str) -> list[Message]:
    user = f"{passages_block(passages)}\n\nQUESTION: {question}\n\nANSWER: {answer}"
    return [{"role": "system", "content": prompts.judge}, {"role": "user", "content": user}]


def expand_messages(prompts: Prompts, question: str) -> list[Message]:
    return [{"role": "system", "content": prompts.expand}, {"role": "user", "content": f"QUESTION: {question}"}]


def condense_messages(prompts: Prompts, history: Sequence[tuple[str, str]], message: str) -> list[Message]:
    user = f"CONVERSATION:\n{conversation_block(history)}\n\nMESSAGE: {' '.join(message.split())}"
    return [{"role": "system", "content": prompts.condense}, {"role": "user", "content": user}]
