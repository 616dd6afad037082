"""Request and response shapes of the library routes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, bad_input.")
    message: str = Field(description="What went wrong, in words a person can act on.")


class ErrorOut(BaseModel):
    """The one error shape of every route."""

    error: ErrorDetail


_STATUS_MEANINGS = {
    401: "No token, or one that is not valid.",
    403: "Not allowed: an admin-only option, or a cookie-authenticated write without its X-CSRF-Token.",
    404: "Not found, or not yours.",
    408: "The upload's body stopped arriving for longer than the body-read timeout.",
    413: "Too large; the message gives the limit.",
    415: "A file type TomeHub does not read.",
    422: "Bad input; the message says what to change.",
    429: "Too many requests; retry after the Retry-After header's seconds.",
    503: "Overloaded or the database is unreachable; retry after the Retry-After header's seconds.",
    504: "The request ran past its deadline.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Returns the OpenAPI ``responses`` for these error statuses plus those every signed-in route can answer."""
    every = (401, 429, 503, 504)
    return {
        status: {"model": ErrorOut, "description": _STATUS_MEANINGS[status]} for status in sorted({*statuses, *every})
    }


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
    source_item_id: UUID | None = Field(
        default=None,
        description="For a highlight imported from Kindle or Readwise: the library's item of its book, if any.",
    )


class ItemStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class ItemSort(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    TITLE = "title"
    AUTHOR = "author"


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
    ocr: bool = Field(default=False, description="The text was recognised by OCR from a scanned page.")


class ContentBatch(BaseModel):
    chunks: list[ChunkOut]
    missing: list[int] = Field(description="Requested ids that do not exist or are not yours.")


MAX_BULK_DELETE_IDS = 500


class BulkDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] = Field(min_length=1, max_length=MAX_BULK_DELETE_IDS, description="Items to delete.")


class BulkDeleteOut(BaseModel):
    deleted: list[UUID] = Field(description="Items deleted, with their chunks.")
    missing: list[UUID] = Field(description="Requested ids that do not exist, are deleted already or are not yours.")


class ChunkPage(BaseModel):
    chunks: list[ChunkOut] = Field(description="The item's chunks in reading (chunk_index) order.")
    total: int = Field(description="How many chunks the item has.")


class TagCount(BaseModel):
    tag: str
    count: int = Field(description="How many of your items carry the tag.")


class TagList(BaseModel):
    tags: list[TagCount] = Field(description="Most used first.")
