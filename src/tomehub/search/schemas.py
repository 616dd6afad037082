"""Request and response shapes of search."""

from __future__ import annotations

from enum import IntEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from tomehub.library.schemas import ItemType, clean_tags


class Tier(IntEnum):
    """How a result was produced; reported in the body and the X-TomeHub-Tier header."""

    HYBRID = 1  # lexical + dense retrieval
    KEYWORD = 2  # lexical only (no query embedding)
    CACHED = 3  # a cached result for the same query and versions


# Every search and answer response carries its tier in this header too (and in the body).
TIER_HEADER = "X-TomeHub-Tier"

TIER_NAMES = {Tier.HYBRID: "hybrid", Tier.KEYWORD: "keyword", Tier.CACHED: "cached"}


class SearchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_ids: list[UUID] | None = Field(default=None, max_length=1000)
    item_types: list[ItemType] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)

    _tags = field_validator("tags")(clean_tags)

    def is_empty(self) -> bool:
        return not (self.item_ids or self.item_types or self.tags)


class SmartSearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, description="What to look for, in any language.")
    # Strict: JSON's 0/1 or "5" must not pass as a boolean or a number a client did not mean.
    limit: StrictInt | None = Field(default=None, ge=1, description="Hits to return (default and maximum in settings).")
    filters: SearchFilters | None = None
    expand: StrictBool | None = Field(
        default=None,
        description="Fuse LLM rephrasings of the query (default in settings).",
    )


class Hit(BaseModel):
    chunk_id: int
    item_id: UUID
    title: str
    author: str | None
    item_type: ItemType
    tags: list[str]
    content_type: str
    chunk_index: int
    text: str
    page: int | None
    chapter: str | None
    ocr: bool = Field(default=False, description="The text was recognised by OCR from a scanned page.")
    score: float = Field(description="Reciprocal Rank Fusion score.")
    lexical_rank: int | None
    lexical_score: float | None = Field(description="BM25 score.")
    dense_rank: int | None
    dense_similarity: float | None = Field(description="Cosine similarity of query and chunk.")


class SearchOut(BaseModel):
    query: str
    tier: Tier
    tier_name: str
    hits: list[Hit]
    took_ms: float
    expanded_queries: list[str] = Field(default_factory=list, description="LLM rephrasings fused into the result.")
    cached: bool = Field(default=False, description="Served from the cache (same query, versions and library).")
    stale: bool = Field(default=False, description="Tier 3 only: the library may have changed since it was cached.")
    degraded: str | None = Field(
        default=None,
        description="Why the query was not embedded (breaker_open, timeout, busy, rate_limited, provider_error).",
    )
