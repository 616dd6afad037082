"""Chat sessions: conversations of questions and cited answers, stored per user.

A message is answered as ``/api/search`` answers a question (same retrieval, writer, judge, tiers
and deadlines); a follow-up is searched in the light of the conversation (chats/followup.py). The
question and its answer are stored together once the answer is done; a stream that ends early
(the client left, an error, the deadline) stores what was said, marked incomplete.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import anyio

from tomehub.answer.base import Turn, cited_ids
from tomehub.answer.service import AnswerEvent, AnswerService, Done, Reset, Sources, Token
from tomehub.chats import repo
from tomehub.chats.followup import Condenser, FollowUp, FollowUps
from tomehub.chats.schemas import ChatAnswerOut, ChatDetail, ChatOut, ChatPage, MessageOut, Role
from tomehub.config import ChatSettings
from tomehub.errors import BadInput, NotFound
from tomehub.llm.gateway import LLMGateway
from tomehub.llm.prompts import Prompts
from tomehub.resilience.deadline import Deadline
from tomehub.search.schemas import SearchFilters, SearchOut
from tomehub.store.cache import Cache
from tomehub.store.db import Connection, Database

_log = logging.getLogger(__name__)

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?…])(?:\s|$)")


def title_from(question: str, *, max_chars: int) -> str:
    """Returns a chat title made from its first question: the first sentence, cut at a word
    boundary to ``max_chars`` characters."""
    text = " ".join(question.split())
    match = _FIRST_SENTENCE.match(text)
    sentence = match.group(1) if match else text
    if len(sentence) <= max_chars:
        return sentence
    cut = sentence[: max_chars - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


@dataclass
class _Said:
    """What a stream has told its client so far."""

    sources: SearchOut | None = None
    pieces: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.pieces).strip()


class ChatService:
    """Chats of one user at a time: their list, their messages, and answers to new messages."""

    def __init__(
        self,
        *,
        db: Database,
        answers: AnswerService,
        followups: FollowUps,
        settings: ChatSettings,
        max_message_chars: int,
    ) -> None:
        self.db = db
        self.answers = answers
        self.followups = followups
        self.settings = settings
        self.max_message_chars = max_message_chars

    # ------------------------------------------------------------------ chats

    async def create(self, *, user_id: int, title: str | None, deadline: Deadline) -> ChatOut:
        """Returns a new, empty chat."""
        async with self.db.write(deadline) as conn:
            row = await repo.insert_chat(conn, user_id=user_id, title=self._title(title) if title else None)
        return ChatOut.model_validate(row)

    async def list(
        self, *, user_id: int, limit: int, cursor: str | None, query: str | None, deadline: Deadline
    ) -> ChatPage:
        """Returns one page of the user's chats, most recently active first, optionally only those
        whose title or messages contain every word of ``query`` (as a word or a word's beginning)."""
        after = _decode_cursor(cursor) if cursor else None
        tsquery = repo.prefix_query(query) if query else None
        async with self.db.read(deadline) as conn:
            rows = await repo.list_chats(conn, user_id=user_id, limit=limit + 1, after=after, query=tsquery)
        chats = [ChatOut.model_validate(r) for r in rows[:limit]]
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return ChatPage(chats=chats, next_cursor=next_cursor)

    async def get(self, *, user_id: int, chat_id: UUID, deadline: Deadline) -> ChatDetail:
        """Returns a chat of the user's with its messages, oldest first."""
        async with self.db.read(deadline) as conn:
            chat = await self._chat(conn, user_id, chat_id)
            rows = await repo.latest_messages(conn, chat_id=chat_id, limit=self.settings.max_messages_listed)
        return ChatDetail(**chat, messages=[MessageOut.model_validate(r) for r in rows])

    async def rename(self, *, user_id: int, chat_id: UUID, title: str, deadline: Deadline) -> ChatOut:
        """Renames a chat of the user's and returns it."""
        async with self.db.write(deadline) as conn:
            if not await repo.rename_chat(conn, user_id=user_id, chat_id=chat_id, title=self._title(title)):
                raise NotFound(f"No chat {chat_id}.")
            return ChatOut.model_validate(await self._chat(conn, user_id, chat_id))

    async def delete(self, *, user_id: int, chat_id: UUID, deadline: Deadline) -> None:
        """Deletes a chat of the user's with its messages."""
        async with self.db.write(deadline) as conn:
            if not await repo.delete_chat(conn, user_id=user_id, chat_id=chat_id):
                raise NotFound(f"No chat {chat_id}.")

    # ------------------------------------------------------------------ answers

    async def reply_events(
        self,
        *,
        user_id: int,
        history: Sequence[Turn],
        message: str,
        filters: SearchFilters | None,
        deadline: Deadline,
        streaming: bool = True,
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Yields the answer events of ``message`` after the turns ``history`` (nothing is stored);
        the finished answer is a ChatAnswerOut."""
        message = self._message(message)
        followup = await self.followups.resolve(history=history, message=message, deadline=deadline)
        async with aclosing(self._answer(user_id, message, followup, filters, deadline, streaming)) as events:
            async for event in events:
                yield event

    async def reply(
        self,
        *,
        user_id: int,
        history: Sequence[Turn],
        message: str,
        filters: SearchFilters | None,
        deadline: Deadline,
    ) -> ChatAnswerOut:
        """Returns the finished answer to ``message`` after the turns ``history`` (nothing is stored)."""
        events = self.reply_events(
            user_id=user_id, history=history, message=message, filters=filters, deadline=deadline, streaming=False
        )
        return await _finished(events)

    async def message_events(
        self,
        *,
        user_id: int,
        chat_id: UUID,
        content: str,
        filters: SearchFilters | None,
        deadline: Deadline,
        streaming: bool = True,
    ) -> AsyncGenerator[AnswerEvent, None]:
        """Yields the answer events of a new message in a chat of the user's, and stores the message
        and its answer when done (a stream that ends early: what was said, marked incomplete)."""
        message = self._message(content)
        asked_at = datetime.now(UTC)
        async with self.db.read(deadline) as conn:
            await self._chat(conn, user_id, chat_id)
            rows = await repo.latest_messages(conn, chat_id=chat_id, limit=self.settings.history_messages)
        history = [Turn(role=r["role"], content=r["content"]) for r in rows]
        followup = await self.followups.resolve(history=history, message=message, deadline=deadline)
        said = _Said()
        stored = False
        try:
            async with aclosing(self._answer(user_id, message, followup, filters, deadline, streaming)) as events:
                async for event in events:
                    if isinstance(event, Sources):
                        said.sources = event.search
                    elif isinstance(event, Token):
                        said.pieces.append(event.text)
                    elif isinstance(event, Reset):
                        said.pieces.clear()
                    elif isinstance(event, Done):
                        stored = True
                        assert isinstance(event.answer, ChatAnswerOut)
                        answer = event.answer.model_copy()
                        # A client leaving now must not cancel the write half-way.
                        with anyio.CancelScope(shield=True):
                            ids = await self._store(user_id, chat_id, message, asked_at, _answered(answer))
                        answer.chat_id = chat_id
                        if ids is not None:
                            answer.user_message_id, answer.assistant_message_id = ids
                        event = Done(answer)
                    yield event
        finally:
            if streaming and not stored and said.sources is not None:
                await self._store_partial(user_id, chat_id, message, asked_at, said, followup)

    async def post_message(
        self, *, user_id: int, chat_id: UUID, content: str, filters: SearchFilters | None, deadline: Deadline
    ) -> ChatAnswerOut:
        """Returns the finished answer to a new message in a chat of the user's, both stored."""
        events = self.message_events(
            user_id=user_id, chat_id=chat_id, content=content, filters=filters, deadline=deadline, streaming=False
        )
        return await _finished(events)

    async def _answer(
        self,
        user_id: int,
        message: str,
        followup: FollowUp,
        filters: SearchFilters | None,
        deadline: Deadline,
        streaming: bool,
    ) -> AsyncGenerator[AnswerEvent, None]:
        # AnswerService.events is an async generator: closed as soon as this one is.
        events = cast(
            AsyncGenerator[AnswerEvent, None],
            self.answers.events(
                user_id=user_id,
                question=message,
                filters=filters,
                deadline=deadline,
                streaming=streaming,
                search_query=followup.search_query if followup.mode is not None else None,
                supporting=followup.supporting,
                history=followup.history if followup.mode is not None else (),
            ),
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Done):
                    event = Done(
                        ChatAnswerOut(**dict(event.answer), search_query=followup.search_query, followup=followup.mode)
                    )
                yield event

    # ------------------------------------------------------------------ storing

    async def _store(
        self, user_id: int, chat_id: UUID, message: str, asked_at: datetime, answer: repo.NewMessage
    ) -> tuple[int, int] | None:
        question = repo.NewMessage(role=Role.USER.value, content=message, citations=[], created_at=asked_at)
        title = title_from(message, max_chars=self.settings.title_chars)
        # A stream outlives its request's deadline: the write gets its own.
        async with self.db.write(Deadline.after(self.settings.store_timeout_s)) as conn, conn.transaction():
            ids = await repo.add_exchange(
                conn, user_id=user_id, chat_id=chat_id, messages=[question, answer], title=title
            )
        if ids is None:
            _log.info("chat %s was deleted before its answer was stored", chat_id)
            return None
        return ids[0], ids[1]

    async def _store_partial(
        self, user_id: int, chat_id: UUID, message: str, asked_at: datetime, said: _Said, followup: FollowUp
    ) -> None:
        assert said.sources is not None
        by_id = {h.chunk_id: h for h in said.sources.hits}
        text = said.text
        citations = [
            {"chunk_id": h.chunk_id, "item_id": str(h.item_id), "title": h.title, "author": h.author,
             "page": h.page, "chapter": h.chapter}
            for h in (by_id[i] for i in cited_ids(text) if i in by_id)
        ]  # fmt: skip
        partial = repo.NewMessage(
            role=Role.ASSISTANT.value,
            content=text,
            citations=citations,
            tier=int(said.sources.tier),
            search_query=followup.search_query,
            followup=followup.mode.value if followup.mode else None,
            complete=False,
        )
        # Runs while the request is being cancelled (the client left): shielded, and bounded.
        with anyio.move_on_after(self.settings.store_timeout_s, shield=True):
            try:
                await self._store(user_id, chat_id, message, asked_at, partial)
            except Exception as exc:  # the client is gone; a log line is all that can be done
                _log.warning("could not store the incomplete answer in chat %s: %s", chat_id, exc.__class__.__name__)

    # ------------------------------------------------------------------ checks

    async def _chat(self, conn: Connection, user_id: int, chat_id: UUID) -> dict[str, Any]:
        chat = await repo.get_chat(conn, user_id=user_id, chat_id=chat_id)
        if chat is None:
            raise NotFound(f"No chat {chat_id}.")
        return chat

    def _title(self, title: str) -> str:
        title = " ".join(title.split())
        if not title:
            raise BadInput("The title is blank; give the chat a name.")
        return title[: self.settings.max_title_chars]

    def _message(self, content: str) -> str:
        message = content.strip()
        if not message:
            raise BadInput("The message is blank; type a question.")
        if len(message) > self.max_message_chars:
            raise BadInput(f"The message is longer than {self.max_message_chars} characters; shorten it.")
        return message


def _answered(answer: ChatAnswerOut) -> repo.NewMessage:
    return repo.NewMessage(
        role=Role.ASSISTANT.value,
        content=answer.answer,
        citations=[c.model_dump(mode="json") for c in answer.citations],
        answerer=answer.answerer,
        review=answer.review.value,
        tier=int(answer.tier),
        versions=answer.versions.model_dump(mode="json"),
        search_query=answer.search_query,
        followup=answer.followup.value if answer.followup else None,
    )


async def _finished(events: AsyncGenerator[AnswerEvent, None]) -> ChatAnswerOut:
    async with aclosing(events):
        async for event in events:
            if isinstance(event, Done):
                assert isinstance(event.answer, ChatAnswerOut)
                return event.answer
    raise RuntimeError("the answer stream ended without its answer")


def _encode_cursor(row: dict[str, Any]) -> str:
    body = {"at": row["updated_at"].isoformat(), "id": str(row["id"])}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        at = datetime.fromisoformat(body["at"])
        if at.tzinfo is None:
            raise ValueError("naive time")
        return at, UUID(str(body["id"]))
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BadInput("The cursor is not one this API returned; start again without it.") from exc


def build_chat_service(
    *,
    db: Database,
    answers: AnswerService,
    gateway: LLMGateway,
    prompts: Prompts,
    cache: Cache,
    settings: ChatSettings,
    max_message_chars: int,
) -> ChatService:
    """Returns the chat service over the app's answer service and model gateway."""
    condenser = Condenser(
        gateway=gateway, prompts=prompts, cache=cache, min_time_left_s=settings.condense_min_time_left_s
    )
    followups = FollowUps(settings=settings, count_tokens=answers.searcher.embedder.count_tokens, condenser=condenser)
    return ChatService(
        db=db, answers=answers, followups=followups, settings=settings, max_message_chars=max_message_chars
    )
