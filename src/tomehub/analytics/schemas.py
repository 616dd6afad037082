"""Response shapes of the analytics routes."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from tomehub.library.schemas import ItemType


class ConcordanceLine(BaseModel):
    """One occurrence of the term with the text around it."""

    item_id: UUID
    title: str
    author: str | None
    chunk_id: int
    chunk_index: int
    page: int | None
    chapter: str | None
    left: str = Field(description="Text before the match (whitespace collapsed, cut to whole words).")
    match: str = Field(description="The word as written, e.g. 'kitaplarımızdan' for the term 'kitap'.")
    right: str = Field(description="Text after the match.")
    offset: int = Field(description="Character offset of the match in the chunk's text.")


class ConcordanceOut(BaseModel):
    term: str
    lexemes: dict[str, list[str]] = Field(
        description="The stems looked up, per text-search configuration (language) of your library."
    )
    lines: list[ConcordanceLine] = Field(description="By item title, then reading order.")
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null at the end.")


class SectionCount(BaseModel):
    """Occurrences on one page and in one chapter of an item (either may be unknown)."""

    page: int | None
    chapter: str | None
    count: int = Field(description="Occurrences of the term.")
    chunks: int = Field(description="Chunks holding it.")


class ItemDistribution(BaseModel):
    item_id: UUID
    title: str
    author: str | None
    item_type: ItemType
    count: int = Field(description="Occurrences of the term in the item.")
    chunks: int = Field(description="Chunks of the item holding it.")
    sections: list[SectionCount] = Field(description="Per page and chapter, in page order.")


class DistributionOut(BaseModel):
    term: str
    lexemes: dict[str, list[str]] = Field(
        description="The stems looked up, per text-search configuration (language) of your library."
    )
    total_count: int = Field(description="Occurrences in the whole library (or the item asked for).")
    total_chunks: int
    total_items: int
    items: list[ItemDistribution] = Field(description="Most occurrences first.")
    truncated: bool = Field(description="More items hold the term than are listed (the totals count them all).")
