"""Request and response shapes of question answering."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tomehub.search.schemas import Hit, SearchFilters, Tier


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="A question answered from your library.")
    filters: SearchFilters | None = None


class Citation(BaseModel):
    chunk_id: int
    item_id: UUID
    title: str
    author: str | None
    page: int | None
    chapter: str | None


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="The answer; [n] marks cite chunk n.")
    citations: list[Citation]
    answerer: str = Field(description="Who wrote the answer: extractive (quotes) or llm.")
    tier: Tier
    tier_name: str
    sources: list[Hit]
