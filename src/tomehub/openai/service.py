"""The OpenAI-compatible endpoint mapped onto chats: a request's messages become a conversation
(the last user message is the question, the user and assistant messages before it the history;
system and developer messages are ignored, since answers follow TomeHub's own prompts and only the
library's passages), and the answer becomes a chat completion.

The answer's ``[chunk id]`` marks are renumbered ``[1]``, ``[2]``… in order of first appearance
(marks naming no retrieved passage are dropped), and a ``Sources:`` list (title, author, page)
follows the text; the same sources, structured, are in ``tomehub_citations``. Nothing is stored:
an OpenAI client keeps its own history and sends it with every request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tomehub.answer.base import Turn
from tomehub.answer.schemas import Citation
from tomehub.answer.service import AnswerEvent, Done, Reset, Sources, Token
from tomehub.chats.schemas import ChatAnswerOut
from tomehub.errors import BadInput, NotFound, TomehubError, openai_error_body
from tomehub.openai.schemas import (
    AnswerInfo,
    Choice,
    CompletionOut,
    MessageIn,
    MessageOut,
    ModelList,
    ModelOut,
    SourceRef,
)

_log = logging.getLogger(__name__)

# When the reviewer withdraws an answer already streamed (an OpenAI client cannot take text back).
WITHDRAWN = "\n\n(The reviewer withdrew the answer above; a checked answer follows.)\n\n"
_OPEN_MARK = re.compile(r"\[\d{0,18}$")
# A citation mark with the space before it (dropped with the mark when it names no passage).
_MARK = re.compile(r"(\s*)\[(\d{1,18})\]")
_STARTED_AT = int(time.time())


class ModelNotFound(NotFound):
    code = "model_not_found"


def models(model_id: str) -> ModelList:
    """Returns the one model this server serves."""
    return ModelList(data=[ModelOut(id=model_id, created=_STARTED_AT)])


def model(requested: str, served: str) -> ModelOut:
    """Returns the served model if ``requested`` names it; ModelNotFound otherwise."""
    if requested != served:
        raise ModelNotFound(f"The model '{requested}' does not exist; this server serves '{served}'.")
    return ModelOut(id=served, created=_STARTED_AT)


def conversation(messages: Sequence[MessageIn]) -> tuple[list[Turn], str]:
    """Returns the history and the question of a request's messages."""
    last = next((n for n in range(len(messages) - 1, -1, -1) if messages[n].role == "user"), None)
    if last is None:
        raise BadInput("The messages hold no user message; the last user message is the question.")
    question = messages[last].text().strip()
    if not question:
        raise BadInput("The last user message is empty; it is the question.")
    history = [
        Turn(role=m.role, content=m.text())
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.text().strip()
    ]
    return history, question


class Numbering:
    """Renumbers ``[chunk id]`` marks as ``[1]``, ``[2]``… in order of first appearance, over a
    stream of text pieces: a mark split across pieces is held back until it is whole."""

    def __init__(self, known: set[int]) -> None:
        self.known = known
        self.numbers: dict[int, int] = {}
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        match = _OPEN_MARK.search(text)
        if match is not None:
            self._held, text = text[match.start() :], text[: match.start()]
        else:
            self._held = ""
        return _MARK.sub(self._mark, text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return _MARK.sub(self._mark, text)

    def number(self, chunk_id: int) -> int:
        return self.numbers.setdefault(chunk_id, len(self.numbers) + 1)

    def _mark(self, match: re.Match[str]) -> str:
        chunk_id = int(match.group(2))
        # A mark naming no passage it was given is an invented citation: nothing to point to.
        return f"{match.group(1)}[{self.number(chunk_id)}]" if chunk_id in self.known else ""


def source_refs(citations: Sequence[Citation], numbering: Numbering) -> list[SourceRef]:
    """Returns the citations numbered as their marks, in number order."""
    refs = [SourceRef(n=numbering.number(c.chunk_id), **c.model_dump()) for c in citations]
    return sorted(refs, key=lambda r: r.n)


def sources_block(refs: Sequence[SourceRef]) -> str:
    """Returns the ``Sources:`` list that follows an answer's text (empty without sources)."""
    if not refs:
        return ""
    lines = []
    for ref in refs:
        line = f"[{ref.n}] {ref.title}"
        if ref.author:
            line += f" — {ref.author}"
        if ref.page is not None:
            line += f", p. {ref.page}"
        lines.append(line)
    return "\n\nSources:\n" + "\n".join(lines)


def _info(answer: ChatAnswerOut) -> AnswerInfo:
    return AnswerInfo(
        tier=int(answer.tier),
        tier_name=answer.tier_name,
        answerer=answer.answerer,
        review=answer.review.value,
        search_query=answer.search_query,
        followup=answer.followup.value if answer.followup else None,
    )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(answer: ChatAnswerOut, *, model_id: str) -> CompletionOut:
    """Returns a finished answer as a chat completion."""
    numbering = Numbering({s.chunk_id for s in answer.sources} | {c.chunk_id for c in answer.citations})
    text = (numbering.feed(answer.answer) + numbering.flush()).strip()
    refs = source_refs(answer.citations, numbering)
    return CompletionOut(
        id=completion_id(),
        created=int(time.time()),
        model=model_id,
        choices=[Choice(message=MessageOut(content=text + sources_block(refs), tomehub_citations=refs))],
        tomehub=_info(answer),
    )


class _Tidy:
    """Keeps a streamed text equal to the whole answer, which is stripped: leading whitespace is
    dropped and trailing whitespace held until more text follows it."""

    def __init__(self) -> None:
        self.started = False
        self._space = ""

    def __call__(self, text: str) -> str:
        if not self.started:
            text = text.lstrip()
            if not text:
                return ""
            self.started = True
        body = text.rstrip()
        if not body:
            self._space += text
            return ""
        out, self._space = self._space + body, text[len(body) :]
        return out

    def restart(self) -> None:
        self.started, self._space = False, ""


async def completion_chunks(
    events: AsyncIterator[AnswerEvent], *, model_id: str, include_usage: bool
) -> AsyncIterator[dict[str, Any] | str]:
    """Yields an answer's events as chat.completion.chunk objects, then ``[DONE]``; a failure
    becomes a last ``{"error": ...}`` object (OpenAI's clients raise it)."""
    base = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model_id}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    numbering = Numbering(set())
    tidy = _Tidy()
    heard = False  # tokens came since the start or the last reset
    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in events:
            if isinstance(event, Sources):
                numbering.known = {h.chunk_id for h in event.search.hits}
            elif isinstance(event, Token):
                heard = True
                text = tidy(numbering.feed(event.text))
                if text:
                    yield chunk({"content": text})
            elif isinstance(event, Reset):
                numbering.flush()
                tidy.restart()
                heard = False
                yield chunk({"content": WITHDRAWN})
            elif isinstance(event, Done):
                answer = event.answer
                assert isinstance(answer, ChatAnswerOut)
                # An answer that came whole (nothing found: no tokens) is sent whole.
                unsent = numbering.flush() if heard else numbering.feed(answer.answer) + numbering.flush()
                text = tidy(unsent)
                refs = source_refs(answer.citations, numbering)
                tail = text + sources_block(refs)
                if tail:
                    yield chunk({"content": tail})
                citations = [r.model_dump(mode="json") for r in refs]
                yield chunk({"tomehub_citations": citations}, "stop", tomehub=_info(answer).model_dump(mode="json"))
        if include_usage:
            yield {**base, "choices": [], "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
        yield "[DONE]"
    except TomehubError as exc:
        yield openai_error_body(exc)
    except Exception:
        _log.exception("completion stream failed")
        yield {"error": {"message": "The answer could not be completed.", "type": "server_error", "param": None,
                         "code": "internal"}}  # fmt: skip
