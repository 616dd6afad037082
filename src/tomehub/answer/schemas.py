"""Request and response shapes of question answering."""

from __future__ import annotations

from enum import StrEnum
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


class Review(StrEnum):
    """What became of an answer's review by the Judge AI."""

    PASSED = "passed"  # the judge passed the first answer
    REGENERATED = "regenerated"  # the judge asked for a second answer with hints, and passed it
    DECLINED = "declined"  # the judge declined the LLM's answer; the extractive answer replaced it
    FAST_TRACK = "fast-track"  # a direct question answered from the chunk both lists ranked first
    UNREVIEWED = "unreviewed"  # the judge model could not be reached: nobody checked this answer
    QUOTED = "quoted"  # extractive: verbatim quotes of the cited chunks, nothing to review


class Versions(BaseModel):
    """What the answer depends on (also part of every cache key)."""

    embedding_model: str
    chat_model: str | None
    prompt_hash: str


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="The answer; [n] marks cite chunk n.")
    citations: list[Citation]
    answerer: str = Field(description="Who wrote the answer: llm, or extractive (quotes; the fallback).")
    review: Review
    scores: dict[str, float] = Field(default_factory=dict, description="The judge's rubric, 0..1.")
    fallback_reason: str | None = Field(default=None, description="Why the extractive answer was used, if so.")
    tier: Tier
    tier_name: str
    versions: Versions
    cached: bool = Field(default=False, description="A reviewed answer to the same question from the same passages.")
    sources: list[Hit] = Field(default_factory=list)
