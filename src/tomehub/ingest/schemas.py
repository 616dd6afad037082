"""Request and response shapes of the ingestion routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from tomehub.library.schemas import ItemType, clean_tags


class IngestAccepted(BaseModel):
    run_id: UUID
    item_id: UUID
    status: str
    duplicate: bool = Field(description="True when this file was already in the library; it is re-checked, not copied.")
    status_url: str


class BatchAccepted(BaseModel):
    run_id: UUID
    files: int
    status_url: str


class FileError(BaseModel):
    file: str
    code: str
    message: str


class RunOut(BaseModel):
    id: UUID
    label: str
    status: str = Field(description="queued, running, succeeded, completed_with_errors or failed")
    files_total: int
    files_done: int
    files_failed: int
    files_skipped: int = Field(default=0, description="Files not indexed because their item was deleted meanwhile.")
    chunks_written: int = Field(description="Chunks indexed (new or changed).")
    passages_reused: int = Field(description="Passages whose vector was kept or copied: nothing re-embedded.")
    passages_embedded: int = Field(description="Passages embedded by the model in this run.")
    passages_pending_embedding: int = Field(description="Passages still waiting for their vector.")
    progress: float = Field(description="Share of files finished, 0..1.")
    pages_done: int = Field(default=0, description="Scanned PDF pages read by OCR so far, over the run's files.")
    pages_total: int = Field(
        default=0, description="Scanned PDF pages to read by OCR in the run's files parsed so far (0: none)."
    )
    errors: list[FileError]
    skipped: list[FileError] = Field(
        default_factory=list, description="Files cancelled without an error, with the reason (code item_deleted)."
    )
    embedding_error: str | None = Field(
        default=None,
        description="Why this run's passages wait for their vectors (the last embedding failure, in plain words); "
        "null while embeddings succeed.",
    )
    embedding_retry_at: datetime | None = Field(
        default=None, description="When the failed embeddings are tried again; past the retry policy the file fails."
    )
    highlights_added: int = Field(
        default=0, description="Highlights and notes a Kindle clippings or Readwise export added as items."
    )
    highlights_skipped: int = Field(
        default=0, description="Highlights of such an export already in the library (imported before)."
    )
    item_ids: list[UUID]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunOut:
        total = max(int(row["files_total"]), 1)
        skipped = list(row.get("skipped") or [])
        finished = int(row["files_done"]) + int(row["files_failed"]) + len(skipped)
        return cls.model_validate(
            {**row, "skipped": skipped, "files_skipped": len(skipped), "progress": round(finished / total, 4)}
        )


class RunList(BaseModel):
    runs: list[RunOut] = Field(description="Newest first.")


class AddItemIn(BaseModel):
    """A typed item: a personal note, a highlight (with its page), an insight, or any text."""

    model_config = ConfigDict(extra="forbid")

    item_type: ItemType = ItemType.PERSONAL_NOTE
    text: str = Field(min_length=1, description="The note, highlight or insight itself.")
    title: str | None = Field(default=None, max_length=500)
    author: str | None = Field(default=None, max_length=300)
    page: StrictInt | None = Field(default=None, ge=1, le=100_000, description="Page of a highlight in its book.")
    chapter: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list)

    _tags = field_validator("tags")(clean_tags)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value
