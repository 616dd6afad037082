"""The OpenAI wire format TomeHub speaks at /v1 (the parts chat clients use), plus its extras:
``tomehub_citations`` on the answer's message (and on the final stream chunk) and ``tomehub``
(tier, answerer, review, what was searched)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool

# A message of a conversation, not a document: longer ones are refused (422) before any work.
MAX_MESSAGE_CHARS = 100_000
MessageText = Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]


class ContentPart(BaseModel):
    """A part of a message's content; only text parts are read."""

    model_config = ConfigDict(extra="ignore")

    type: str
    text: MessageText | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: MessageText | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: StrictBool = False


class CompletionIn(BaseModel):
    """A chat completion request; sampling options (temperature, max_tokens…) are accepted and
    ignored: answers come from the library's own writer."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[MessageIn] = Field(min_length=1, max_length=500)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error type, e.g. invalid_request_error, authentication_error.")
    param: str | None
    code: str = Field(description="TomeHub's stable code, e.g. model_not_found, bad_input.")


class OpenAIErrorOut(BaseModel):
    """The error shape of every /v1 route (OpenAI's)."""

    error: OpenAIErrorDetail


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "tomehub"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class SourceRef(BaseModel):
    """A structured citation: ``n`` is the number of its ``[n]`` mark in the text."""

    n: int
    chunk_id: int
    item_id: UUID
    title: str
    author: str | None
    page: int | None
    chapter: str | None


class MessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    tomehub_citations: list[SourceRef]


class Choice(BaseModel):
    index: int = 0
    message: MessageOut
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Token counts are not tracked; zeros, as OpenAI-compatible servers without counts send."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class AnswerInfo(BaseModel):
    tier: int
    tier_name: str
    answerer: str
    review: str
    search_query: str
    followup: str | None


class CompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage = Field(default_factory=Usage)
    tomehub: AnswerInfo
