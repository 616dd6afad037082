"""Request and response shapes of chat sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tomehub.answer.schemas import AnswerOut, Citation, Versions
from tomehub.search.schemas import SearchFilters


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class FollowUpMode(StrEnum):
    """How a follow-up was searched (see chats/followup.py)."""

    CONDENSED = "condensed"  # a model rewrote history + message as one standalone query
    RULE = "rule"  # previous question + this message joined the keyword search at a lower weight


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200, description="Named after the first question if left out.")


class ChatPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, description="The question (a follow-up may say 'he' or 'that book').")
    filters: SearchFilters | None = None


class ChatOut(BaseModel):
    id: UUID
    title: str | None = Field(description="Null until the first question names the chat.")
    created_at: datetime
    updated_at: datetime = Field(description="The last message or rename.")
    message_count: int


class ChatPage(BaseModel):
    chats: list[ChatOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null at the end.")


class MessageOut(BaseModel):
    id: int
    role: Role
    content: str
    citations: list[Citation] = Field(default_factory=list)
    answerer: str | None = None
    review: str | None = None
    tier: int | None = None
    versions: Versions | None = None
    search_query: str | None = Field(default=None, description="What retrieval searched for this answer.")
    followup: FollowUpMode | None = None
    complete: bool = Field(default=True, description="False when the stream ended before the answer did.")
    created_at: datetime


class ChatDetail(ChatOut):
    messages: list[MessageOut] = Field(description="Oldest first; at most the latest chats.max_messages_listed.")


class ChatAnswerOut(AnswerOut):
    """The answer of /api/search, with how the follow-up was searched and the stored messages' ids."""

    search_query: str = Field(
        description="What retrieval searched (a follow-up's standalone rewrite, or the question)."
    )
    followup: FollowUpMode | None = Field(default=None, description="How history shaped the search; null: it did not.")
    chat_id: UUID | None = None
    user_message_id: int | None = None
    assistant_message_id: int | None = None
