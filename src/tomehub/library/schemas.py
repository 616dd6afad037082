"""Request and response shapes of the library routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ItemType(StrEnum):
    BOOK = "BOOK"
    ARTICLE = "ARTICLE"
    WEBSITE = "WEBSITE"
    PERSONAL_NOTE = "PERSONAL_NOTE"
    HIGHLIGHT = "HIGHLIGHT"
    INSIGHT = "INSIGHT"


Tag = Field(min_length=1, max_length=64)


def clean_tags(tags: list[str] | None) -> list[str] | None:
    """Returns tags trimmed, lower-cased and deduplicated in their first order."""
    if tags is None:
        return None
    seen: dict[str, None] = {}
    for tag in tags:
        t = tag.strip().lower()
        if not t:
            continue
        if len(t) > 64:
            raise ValueError(f"tag {t[:20]!r}... is longer than 64 characters")
        seen.setdefault(t, None)
    if len(seen) > 50:
        raise ValueError("an item can carry at most 50 tags")
    return list(seen)


class ItemOut(BaseModel):
    id: UUID
    item_type: ItemType
    title: str
    author: str | None
    isbn: str | None
    tags: list[str]
    summary: str | None
    source_filename: str | None
    language: str | None
    status: str
    status_detail: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null at the end.")


class ItemPatch(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    item_type: ItemType | None = None
    title: str | None = Field(default=None, min_length=1, max_length=500)
    author: str | None = Field(default=None, max_length=300)
    isbn: str | None = Field(default=None, max_length=32)
    tags: list[str] | None = None
    summary: str | None = Field(default=None, max_length=10_000)

    _tags = field_validator("tags")(clean_tags)


class ChunkOut(BaseModel):
    id: int
    item_id: UUID
    item_title: str
    item_author: str | None
    item_type: ItemType
    content_type: str
    chunk_index: int
    text: str
    page: int | None
    chapter: str | None


class ContentBatch(BaseModel):
    chunks: list[ChunkOut]
    missing: list[int] = Field(description="Requested ids that do not exist or are not yours.")
