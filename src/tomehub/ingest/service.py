"""Ingestion's shared shapes and the small services: typed items, run status, chunking helpers.

The rest lives by role: ``accept`` records uploads and queues them, ``archive`` reads zip batches
entry by entry, ``pipeline`` is the worker's parse → index → embed path, ``reembed`` brings
vectors up to a new model. Each worker step is idempotent, so a retried job (after a crash, a kill,
a database blip) converges on the same chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Protocol
from uuid import UUID

from tomehub.config import Settings
from tomehub.errors import DocumentError, Forbidden, NotFound, PayloadTooLarge
from tomehub.ingest import repo
from tomehub.ingest.chunking import Chunk, chunk_sections, content_hash
from tomehub.ingest.parsers import Section
from tomehub.ingest.schemas import AddItemIn, RunList, RunOut
from tomehub.library import repo as library_repo
from tomehub.library.analysis import detect_config
from tomehub.library.repo import NewChunk, NewPassage
from tomehub.library.schemas import ItemOut, ItemType
from tomehub.llm.base import Embedder
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database
from tomehub.store.originals import OriginalStore

BODY = "BODY"


class ProcessingFailed(DocumentError):
    """A file that kept failing for reasons other than its content (recorded after the last retry)."""

    code = "processing_failed"


class EmbeddingFailed(ProcessingFailed):
    """A file whose text is indexed but whose passages the provider kept failing to embed."""

    code = "embedding_failed"


class IngestQueue(Protocol):
    """Where ingestion work waits for a worker (a durable job queue in PostgreSQL)."""

    async def enqueue_file(self, file_id: UUID, *, position: int = 0) -> int:
        """Queues the processing of one uploaded file (``position``: files of this user already
        waiting, for fairness between users); returns the job id."""
        ...

    async def enqueue_files(self, file_ids: list[UUID], *, position: int = 0) -> int:
        """Queues several small files of one user to be processed as one job; returns the job id."""
        ...

    async def enqueue_unpack(self, run_id: UUID, *, position: int = 0) -> int:
        """Queues the unpacking of a batch run's zip (behind ``position`` files of its user)."""
        ...

    async def enqueue_embedding(self, *, user_id: int, item_id: UUID) -> int:
        """Queues the embedding of an item's chunks that have no vector yet; returns the job id."""
        ...

    async def enqueue_reembedding(self, *, user_id: int) -> int | None:
        """Queues the re-embedding of a user's chunks lacking a current vector (None: already queued)."""
        ...

    async def enqueue_file_embedding(self, file_id: UUID, *, at: datetime) -> int:
        """Queues, for ``at``, another try at embedding a file whose text is indexed; returns the job id."""
        ...


@dataclass(frozen=True)
class UploadMeta:
    title: str | None = None
    author: str | None = None
    item_type: ItemType = ItemType.BOOK
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerContext:
    """What a worker needs to process jobs."""

    settings: Settings
    db: Database
    embedder: Embedder
    # Where a file whose embedding failed waits for its next try (None: it fails at once).
    queue: IngestQueue | None = None
    # Where the uploaded files are kept (None: the store the settings name).
    originals: OriginalStore | None = None


async def add_text_item(
    *,
    db: Database,
    queue: IngestQueue,
    embedder: Embedder,
    settings: Settings,
    user_id: int,
    body: AddItemIn,
    deadline: Deadline,
) -> ItemOut:
    """Adds a typed item; it is searchable by keyword at once and by meaning once embedded."""
    if len(body.text) > settings.ingest.max_item_text_chars:
        raise PayloadTooLarge(
            f"The text has {len(body.text)} characters; typed items take at most "
            f"{settings.ingest.max_item_text_chars}. Upload it as a file instead."
        )
    section = Section(text=body.text, page=body.page, chapter=body.chapter)
    chunks = await asyncio.to_thread(chunk_text, [section], settings, embedder.count_tokens)
    config = detect_config(body.text)
    title = body.title or title_from_text(body.text)
    async with db.write(deadline) as conn, conn.transaction():
        await library_repo.lock_library(conn, user_id=user_id)
        item_id = await library_repo.insert_item(
            conn, user_id=user_id, item_type=body.item_type.value, title=title, author=body.author, tags=body.tags
        )
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields={"language": config})
        reusable = await library_repo.reusable_embeddings(
            conn,
            user_id=user_id,
            hashes=passage_hashes(chunks),
            model=embedder.model,
            version=embedder.version,
        )
        await library_repo.write_chunks(
            conn,
            user_id=user_id,
            item_id=item_id,
            chunks=[new_chunk(c, body.item_type.value, config, reusable) for c in chunks],
            embedding_model=embedder.model,
            embedding_version=embedder.version,
        )
        row = await library_repo.get_item(conn, user_id=user_id, item_id=item_id)
    if len(reusable) < len(passage_hashes(chunks)):
        await queue.enqueue_embedding(user_id=user_id, item_id=item_id)
    assert row is not None
    return ItemOut.model_validate(row)


async def get_run(*, db: Database, user_id: int, run_id: UUID, deadline: Deadline) -> RunOut:
    """Returns a run's status, progress and per-file errors."""
    async with db.read(deadline) as conn:
        row = await repo.get_run(conn, user_id=user_id, run_id=run_id)
    if row is None:
        raise NotFound(f"No ingestion run {run_id} of yours.")
    return RunOut.from_row(row)


async def list_runs(
    *,
    db: Database,
    user_id: int,
    is_admin: bool,
    item_id: UUID | None,
    every_user: bool,
    limit: int,
    deadline: Deadline,
) -> RunList:
    """Returns the latest runs, newest first: the user's, or every user's when an admin asks."""
    if every_user and not is_admin:
        raise Forbidden("Only an administrator can list every user's ingestion runs; leave out all=true.")
    async with db.read(deadline) as conn:
        rows = await repo.list_runs(conn, user_id=None if every_user else user_id, item_id=item_id, limit=limit)
    return RunList(runs=[RunOut.from_row(r) for r in rows])


def chunk_text(sections: list[Section], settings: Settings, count_tokens: Callable[[str], int]) -> list[Chunk]:
    return chunk_sections(
        sections,
        chunk_tokens=settings.chunking.chunk_tokens,
        passage_tokens=settings.chunking.passage_tokens,
        overlap_ratio=settings.chunking.overlap_ratio,
        count_tokens=count_tokens,
    )


def new_chunk(chunk: Chunk, content_type: str, config: str, reusable: dict[str, str]) -> NewChunk:
    passages = []
    for text in chunk.passages:
        digest = content_hash(text)
        passages.append(NewPassage(text=text, content_hash=digest, embedding=reusable.get(digest)))
    return NewChunk(
        chunk_index=chunk.index,
        text=chunk.text,
        content_type=content_type,
        ts_config=config,
        content_hash=chunk.content_hash,
        page=chunk.page,
        chapter=chunk.chapter,
        passages=tuple(passages),
        ocr=chunk.ocr,
    )


def passage_hashes(chunks: list[Chunk]) -> list[str]:
    return [content_hash(p) for c in chunks for p in c.passages]


def title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem.replace("_", " ").replace("-", " ").strip()
    return (stem or filename)[:500]


def title_from_text(text: str) -> str:
    first = " ".join(text.split())
    return first[:80] + ("…" if len(first) > 80 else "")
