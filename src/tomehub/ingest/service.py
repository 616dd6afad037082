"""Ingestion: uploads become queued files; a worker parses, chunks, indexes and embeds them.

Each step is idempotent, so a retried job (after a crash, a kill, a database blip) converges on the
same chunks: unchanged chunks are kept with their vectors, identical text is never embedded twice,
and a file is counted in its run exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any, Protocol
from uuid import UUID

import psycopg

from tomehub.config import Settings
from tomehub.errors import (
    BadInput,
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PoisonFile,
    TomehubError,
)
from tomehub.ingest import highlights, repo
from tomehub.ingest.chunking import Chunk, chunk_sections, content_hash
from tomehub.ingest.parsers import ParsedDocument, Section, detect_format
from tomehub.ingest.parsers.highlights import KINDLE, highlight_format, read_highlights
from tomehub.ingest.sandbox import parse_sandboxed
from tomehub.ingest.schemas import AddItemIn, IngestAccepted, RunList, RunOut
from tomehub.library import repo as library_repo
from tomehub.library.analysis import detect_config
from tomehub.library.repo import NewChunk, NewPassage
from tomehub.library.schemas import ItemOut, ItemType
from tomehub.llm.base import Embedder
from tomehub.llm.embedder import EMBEDDING_FAILURES, describe_failure
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Connection, Database
from tomehub.store.originals import OriginalStore, open_originals

_log = logging.getLogger(__name__)

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


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mime_of(data: bytes, filename: str) -> str:
    """Returns the media type an original is served with."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return mimetypes.guess_type(PurePath(filename).name)[0] or "application/octet-stream"


def check_upload_size(size: int, *, settings: Settings, filename: str) -> None:
    """Raises PayloadTooLarge when a file is over the upload limit."""
    limit = settings.ingest.max_upload_bytes
    if size > limit:
        raise PayloadTooLarge(
            f"{filename} is {size / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB (TOMEHUB_INGEST__MAX_UPLOAD_BYTES)."
        )


async def submit_upload(
    *,
    db: Database,
    queue: IngestQueue,
    settings: Settings,
    user_id: int,
    filename: str,
    data: bytes,
    meta: UploadMeta,
    deadline: Deadline | None = None,
    originals: OriginalStore | None = None,
) -> IngestAccepted:
    """Accepts one uploaded file: records it, queues its processing and returns the run to watch."""
    originals = originals if originals is not None else open_originals(settings)
    check_upload_size(len(data), settings=settings, filename=filename)
    detect_format(data, filename)  # unsupported types are refused now (415), not in the worker
    try:
        run_id, item_ids, file_ids, duplicates = await _record_files(
            db=db,
            user_id=user_id,
            label=filename,
            files=[(filename, data)],
            meta=meta,
            deadline=deadline,
            originals=originals,
        )
    except psycopg.errors.UniqueViolation:
        # The same file arrived twice at once; the other upload created the item, so this one
        # now finds it and becomes a re-check of it.
        run_id, item_ids, file_ids, duplicates = await _record_files(
            db=db,
            user_id=user_id,
            label=filename,
            files=[(filename, data)],
            meta=meta,
            deadline=deadline,
            originals=originals,
        )
    await _enqueue(db=db, queue=queue, file_ids=file_ids, user_id=user_id)
    return IngestAccepted(
        run_id=run_id,
        item_id=item_ids[0],
        status="queued",
        duplicate=duplicates[0],
        status_url=f"/api/ingest/runs/{run_id}",
    )


async def submit_files(
    *,
    db: Database,
    queue: IngestQueue,
    settings: Settings,
    user_id: int,
    label: str,
    files: list[tuple[str, bytes]],
    meta: UploadMeta,
    originals: OriginalStore | None = None,
) -> UUID:
    """Accepts a batch of files as one run; files that cannot be read fail alone. Returns the run id."""
    originals = originals if originals is not None else open_originals(settings)
    accepted: list[tuple[str, bytes]] = []
    refused: list[tuple[str, TomehubError]] = []
    for name, data in files:
        try:
            check_upload_size(len(data), settings=settings, filename=name)
            detect_format(data, name)
            accepted.append((name, data))
        except (PayloadTooLarge, BadInput) as exc:
            refused.append((name, exc))
    run_id, _items, file_ids, _dups = await _record_files(
        db=db,
        user_id=user_id,
        label=label,
        files=accepted,
        meta=meta,
        total=len(files),
        refused=refused,
        deadline=None,
        originals=originals,
    )
    await _enqueue(db=db, queue=queue, file_ids=file_ids, user_id=user_id)
    return run_id


def read_zip(data: bytes, *, settings: Settings, filename: str = "upload.zip") -> list[tuple[str, bytes]]:
    """Returns the documents inside a zip archive (folders flattened into their paths), refusing
    archives that would unpack past the limits (zip bombs)."""
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise BadInput(f"{filename} is not a readable zip archive.") from exc
    entries = [
        info for info in archive.infolist()
        if not info.is_dir() and not PurePath(info.filename).name.startswith(".") and "__MACOSX" not in info.filename
    ]  # fmt: skip
    limits = settings.ingest
    if len(entries) > limits.max_batch_files:
        raise BadInput(f"{filename} holds {len(entries)} files; a batch takes at most {limits.max_batch_files}.")
    total = sum(info.file_size for info in entries)
    if total > limits.max_batch_unpacked_bytes:
        raise PayloadTooLarge(
            f"{filename} unpacks to {total / 1e6:.0f} MB; the limit is {limits.max_batch_unpacked_bytes / 1e6:.0f} MB."
        )
    return [(info.filename, archive.read(info)) for info in entries]


async def _record_files(
    *,
    db: Database,
    user_id: int,
    label: str,
    files: list[tuple[str, bytes]],
    meta: UploadMeta,
    deadline: Deadline | None = None,
    total: int | None = None,
    refused: list[tuple[str, TomehubError]] | None = None,
    originals: OriginalStore | None = None,
) -> tuple[UUID, list[UUID], list[UUID], list[bool]]:
    item_ids: list[UUID] = []
    file_ids: list[UUID] = []
    duplicates: list[bool] = []
    async with db.write(deadline) as conn, conn.transaction():
        run_id = await repo.create_run(conn, user_id=user_id, label=label, files_total=total or len(files))
        for name, data in files:
            digest = sha256_of(data)
            if originals is not None:
                # Kept before the job is queued (a worker elsewhere reads it); the lock keeps a
                # concurrent delete of the last item sharing this file from removing it meanwhile.
                await library_repo.lock_original(conn, file_sha256=digest)
                await originals.put(digest, data)
            item_id = await library_repo.find_item_by_file(conn, user_id=user_id, file_sha256=digest)
            duplicates.append(item_id is not None)
            if item_id is None:
                item_id = await library_repo.insert_item(
                    conn,
                    user_id=user_id,
                    item_type=meta.item_type.value,
                    title=meta.title or _title_from_filename(name),
                    author=meta.author,
                    tags=list(meta.tags),
                    source_filename=PurePath(name).name,
                    source_mime=mime_of(data, name),
                    file_sha256=digest,
                    status="pending",
                )
            else:
                await _apply_meta(conn, user_id=user_id, item_id=item_id, meta=meta)
            item_ids.append(item_id)
            file_ids.append(
                await repo.add_file(
                    conn, run_id=run_id, user_id=user_id, item_id=item_id, filename=name, data=data, sha256=digest
                )
            )
        for name, exc in refused or []:
            item_id = await library_repo.insert_item(
                conn,
                user_id=user_id,
                item_type=meta.item_type.value,
                title=_title_from_filename(name),
                source_filename=PurePath(name).name,
                status="failed",
            )
            await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields={"status_detail": str(exc)})
            await repo.add_failed_file(
                conn,
                run_id=run_id,
                user_id=user_id,
                item_id=item_id,
                filename=name,
                code=exc.code,
                message=exc.message,
            )
    return run_id, item_ids, file_ids, duplicates


async def _apply_meta(conn: Connection, *, user_id: int, item_id: UUID, meta: UploadMeta) -> None:
    fields: dict[str, object] = {}
    if meta.title:
        fields["title"] = meta.title
    if meta.author:
        fields["author"] = meta.author
    if meta.tags:
        fields["tags"] = list(meta.tags)
    if fields:
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields=fields)


async def _enqueue(*, db: Database, queue: IngestQueue, file_ids: list[UUID], user_id: int | None = None) -> None:
    waiting = 0
    if user_id is not None and file_ids:
        async with db.read() as conn:
            waiting = await repo.queued_files(conn, user_id=user_id, excluding=file_ids)
    for position, file_id in enumerate(file_ids, start=waiting):
        job_id = await queue.enqueue_file(file_id, position=position)
        async with db.write() as conn:
            await repo.set_job_id(conn, file_id=file_id, job_id=job_id)


async def requeue_orphans(*, db: Database, queue: IngestQueue, older_than_s: float = 30.0) -> int:
    """Queues files recorded but never enqueued (their process died in between); returns how many."""
    async with db.write() as conn:
        orphans = await repo.unqueued_files(conn, older_than_s=older_than_s)
    await _enqueue(db=db, queue=queue, file_ids=orphans)
    return len(orphans)


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
    chunks = await asyncio.to_thread(_chunk, [section], settings, embedder.count_tokens)
    config = detect_config(body.text)
    title = body.title or _title_from_text(body.text)
    async with db.write(deadline) as conn, conn.transaction():
        await library_repo.lock_library(conn, user_id=user_id)
        item_id = await library_repo.insert_item(
            conn, user_id=user_id, item_type=body.item_type.value, title=title, author=body.author, tags=body.tags
        )
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields={"language": config})
        reusable = await library_repo.reusable_embeddings(
            conn,
            user_id=user_id,
            hashes=_passage_hashes(chunks),
            model=embedder.model,
            version=embedder.version,
        )
        await library_repo.write_chunks(
            conn,
            user_id=user_id,
            item_id=item_id,
            chunks=[_new_chunk(c, body.item_type.value, config, reusable) for c in chunks],
            embedding_model=embedder.model,
            embedding_version=embedder.version,
        )
        row = await library_repo.get_item(conn, user_id=user_id, item_id=item_id)
    if len(reusable) < len(_passage_hashes(chunks)):
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


async def process_file(*, ctx: WorkerContext, file_id: UUID) -> None:
    """Parses, chunks, indexes and embeds one queued file. Safe to run again after any failure."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        _log.info("file %s already processed", file_id)
        return
    run_id, user_id, item_id, filename = row["run_id"], row["user_id"], row["item_id"], row["filename"]
    # Deletes win: a file whose item was deleted while it waited is dropped here, before any work.
    async with ctx.db.write() as conn, conn.transaction():
        if await _cancel_if_deleted(conn, row, when="before it was processed"):
            return
    async with ctx.db.write() as conn:
        await repo.mark_run_started(conn, run_id=run_id)
    if _highlight_import(row) is not None:
        await _import_highlight_file(ctx, row)
        return
    try:
        doc, chunks, config = await asyncio.to_thread(_parse_and_chunk, ctx, bytes(row["data"]), filename)
    except DocumentError as exc:
        await _fail_file(
            ctx, file_id=file_id, run_id=run_id, user_id=user_id, item_id=item_id, filename=filename, exc=exc
        )
        return
    async with ctx.db.write() as conn, conn.transaction():
        # The lock deletion takes, then the item's row: a delete either committed before (and the
        # file is cancelled here) or waits until these chunks are written, and then deletes them.
        await library_repo.lock_library(conn, user_id=user_id)
        if await _cancel_if_deleted(conn, row, when="while it was being parsed"):
            return
        reusable = await library_repo.reusable_embeddings(
            conn,
            user_id=user_id,
            hashes=_passage_hashes(chunks),
            model=ctx.embedder.model,
            version=ctx.embedder.version,
        )
        write = await library_repo.write_chunks(
            conn,
            user_id=user_id,
            item_id=item_id,
            chunks=[_new_chunk(c, BODY, config, reusable) for c in chunks],
            embedding_model=ctx.embedder.model,
            embedding_version=ctx.embedder.version,
        )
        fields: dict[str, object] = {"language": config, "status": "ready", "status_detail": None}
        item = await library_repo.get_item(conn, user_id=user_id, item_id=item_id)
        if item is not None and item["title"] == _title_from_filename(filename) and doc.title:
            fields["title"] = doc.title[:500]
        if item is not None and not item["author"] and doc.author:
            fields["author"] = doc.author[:300]
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields=fields)
        await repo.add_run_counts(conn, run_id=run_id, written=write.inserted)
    await _embed_and_finish(ctx, row)


async def embed_file(*, ctx: WorkerContext, file_id: UUID) -> None:
    """Tries again to embed a file whose text is indexed (its earlier embedding failed)."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        return
    await _embed_and_finish(ctx, row, whole_library=_highlight_import(row) is not None)


def _highlight_import(row: dict[str, Any]) -> str | None:
    """Returns the export format when a queued file is a highlight export (Kindle, Readwise)."""
    return highlight_format(bytes(row.get("data") or b""), row["filename"])


async def _import_highlight_file(ctx: WorkerContext, row: dict[str, Any]) -> None:
    """Imports an export's highlights as items of their own; the export's item records the counts."""
    file_id, run_id, user_id, item_id, filename = (
        row["id"], row["run_id"], row["user_id"], row["item_id"], row["filename"]
    )  # fmt: skip
    fmt = _highlight_import(row) or KINDLE
    try:
        found = await asyncio.to_thread(read_highlights, bytes(row["data"]), filename, fmt)
    except DocumentError as exc:
        await _fail_file(
            ctx, file_id=file_id, run_id=run_id, user_id=user_id, item_id=item_id, filename=filename, exc=exc
        )
        return
    async with ctx.db.read() as conn:
        export = await library_repo.get_item(conn, user_id=user_id, item_id=item_id)
    result = await highlights.import_highlights(
        db=ctx.db,
        embedder=ctx.embedder,
        settings=ctx.settings,
        user_id=user_id,
        run_id=run_id,
        export_item_id=item_id,
        filename=PurePath(filename).name,
        highlights=found,
        tags=list(export["tags"]) if export else [],
    )
    async with ctx.db.write() as conn, conn.transaction():
        if await _cancel_if_deleted(conn, row, when="while its highlights were being imported"):
            return
        summary = highlights.summary_of(
            result,
            source="Kindle clippings" if fmt == KINDLE else "Readwise export",
            books=len({h.book_title.casefold() for h in found}),
        )
        fields: dict[str, object] = {"status": "ready", "status_detail": None, "summary": summary}
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields=fields)
    # The highlights are items of their own: their passages are embedded with the library's.
    await _embed_and_finish(ctx, row, whole_library=True)


async def _embed_and_finish(ctx: WorkerContext, row: dict[str, Any], *, whole_library: bool = False) -> None:
    file_id, run_id, item_id, filename = row["id"], row["run_id"], row["item_id"], row["filename"]
    try:
        await embed_pending(
            ctx=ctx,
            user_id=row["user_id"],
            item_id=None if whole_library else item_id,
            run_id=run_id,
            file_id=file_id,
        )
    except EMBEDDING_FAILURES as exc:
        await _embedding_failed(ctx, row, exc)
        return
    async with ctx.db.write() as conn, conn.transaction():
        if await _cancel_if_deleted(conn, row, when="while it was being embedded"):
            return
        if await _load_file(conn, file_id) is not None:
            # Passages this file did not embed itself were reused: kept, copied from identical text,
            # or embedded meanwhile by another job. An earlier attempt's embeddings count as its own.
            await repo.count_reused_passages(conn, file_id=file_id, run_id=run_id, item_id=item_id)
            await repo.finish_file(conn, file_id=file_id, run_id=run_id, filename=filename, error_code=None, error=None)
            if row.get("embedding_attempts"):
                await repo.set_embedding_retry(conn, run_id=run_id, error=None, retry_at_s=None)


async def _embedding_failed(ctx: WorkerContext, row: dict[str, Any], exc: Exception) -> None:
    """Shows the cause on the file's run and schedules the next try, or fails the file once the
    retry policy (ingest.embedding_retry_*) is spent: a run never stays "running" in silence."""
    file_id, run_id, filename = row["id"], row["run_id"], row["filename"]
    cause = describe_failure(exc)
    policy = ctx.settings.ingest
    async with ctx.db.write() as conn, conn.transaction():
        attempts, failing_s = await repo.note_embedding_failure(conn, file_id=file_id)
    spent = attempts >= policy.embedding_retry_max_attempts or failing_s >= policy.embedding_give_up_after_s
    if spent or ctx.queue is None:
        _log.warning("giving up embedding %s after %d attempts over %.0f s: %s", filename, attempts, failing_s, cause)
        failed = EmbeddingFailed(
            f"{filename}: its passages could not be embedded ({attempts} attempts over {failing_s:.0f} s): {cause}. "
            "Its text is indexed and found by keyword; once the embedding provider works, upload it again."
        )
        await _fail_file(
            ctx,
            file_id=file_id,
            run_id=run_id,
            user_id=row["user_id"],
            item_id=row["item_id"],
            filename=filename,
            exc=failed,
        )
        async with ctx.db.write() as conn:
            await repo.set_embedding_retry(conn, run_id=run_id, error=None, retry_at_s=None)
        return
    # Each wait twice the last, and the last try falls on the give-up time rather than past it.
    delay_s = min(
        policy.embedding_retry_initial_s * 2 ** (attempts - 1),
        policy.embedding_retry_max_s,
        policy.embedding_give_up_after_s - failing_s,
    )
    _log.warning("embedding %s failed (%s); trying again in %.1f s (attempt %d)", filename, cause, delay_s, attempts)
    async with ctx.db.write() as conn:
        await repo.set_embedding_retry(conn, run_id=run_id, error=cause, retry_at_s=delay_s)
    job_id = await ctx.queue.enqueue_file_embedding(file_id, at=datetime.now(UTC) + timedelta(seconds=delay_s))
    async with ctx.db.write() as conn:
        await repo.set_job_id(conn, file_id=file_id, job_id=job_id)


async def _load_file(conn: Connection, file_id: UUID) -> dict[str, Any] | None:
    return await repo.claim_file(conn, file_id=file_id)


async def _cancel_if_deleted(conn: Connection, row: dict[str, Any], *, when: str) -> bool:
    """Returns True when the file's item has been deleted, after finishing the file as cancelled
    (no error: the user chose this); otherwise holds a share lock on the item until the transaction
    ends. Call inside a transaction."""
    if await library_repo.lock_live_item(conn, user_id=row["user_id"], item_id=row["item_id"]):
        return False
    if await _load_file(conn, row["id"]) is not None:
        _log.info("file %s cancelled: its item was deleted %s", row["filename"], when)
        await repo.cancel_file(
            conn,
            file_id=row["id"],
            run_id=row["run_id"],
            reason=f"{row['filename']} was dropped: its item was deleted {when}.",
        )
    return True


def _parse_and_chunk(ctx: WorkerContext, data: bytes, filename: str) -> tuple[ParsedDocument, list[Chunk], str]:
    # In a child process: a parser that crashes, hangs or runs out of memory fails this file only.
    doc = parse_sandboxed(data, filename, settings=ctx.settings.ingest)
    if doc.char_count > ctx.settings.ingest.max_document_chars:
        raise DocumentTooLarge(
            f"{filename} holds {doc.char_count:,} characters of text; the limit is "
            f"{ctx.settings.ingest.max_document_chars:,} (TOMEHUB_INGEST__MAX_DOCUMENT_CHARS)."
        )
    chunks = _chunk(doc.sections, ctx.settings, ctx.embedder.count_tokens)
    if not chunks:
        raise EmptyDocument(f"{filename} has no text to index.")
    sample = " ".join(s.text for s in doc.sections[:20])[:4000]
    return doc, chunks, detect_config(sample)


async def give_up_file(*, ctx: WorkerContext, file_id: UUID, cause: Exception) -> None:
    """Marks a file failed after its last retry, so its run finishes and says why."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        return
    exc = ProcessingFailed(
        f"{row['filename']} could not be processed after several attempts ({cause.__class__.__name__}); "
        "it is kept and can be uploaded again."
    )
    await _fail_file(
        ctx,
        file_id=file_id,
        run_id=row["run_id"],
        user_id=row["user_id"],
        item_id=row["item_id"],
        filename=row["filename"],
        exc=exc,
    )


async def fail_poison_file(*, ctx: WorkerContext, file_id: UUID, deaths: int) -> None:
    """Marks a file failed whose worker died every time it was processed, so it is not tried again."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        return
    _log.error("file %s is a poison file: its worker died %d times processing it", row["filename"], deaths)
    exc = PoisonFile(
        f"{row['filename']} could not be processed: the worker died {deaths} times while processing this file "
        "(killed, crashed or out of memory); it is not retried again."
    )
    await _fail_file(
        ctx,
        file_id=file_id,
        run_id=row["run_id"],
        user_id=row["user_id"],
        item_id=row["item_id"],
        filename=row["filename"],
        exc=exc,
    )


async def _fail_file(
    ctx: WorkerContext,
    *,
    file_id: UUID,
    run_id: UUID,
    user_id: int,
    item_id: UUID,
    filename: str,
    exc: DocumentError,
) -> None:
    _log.info("file %s failed: %s", filename, exc.code)
    async with ctx.db.write() as conn, conn.transaction():
        if await _load_file(conn, file_id) is None:
            return
        # A file whose item is gone is not a failure of the user's: it was cancelled.
        row = {"id": file_id, "run_id": run_id, "user_id": user_id, "item_id": item_id, "filename": filename}
        if await _cancel_if_deleted(conn, row, when="while it was being processed"):
            return
        await library_repo.update_item(
            conn, user_id=user_id, item_id=item_id, fields={"status": "failed", "status_detail": exc.message}
        )
        await repo.finish_file(
            conn, file_id=file_id, run_id=run_id, filename=filename, error_code=exc.code, error=exc.message
        )


async def embed_pending(
    *,
    ctx: WorkerContext,
    user_id: int,
    item_id: UUID | None,
    run_id: UUID | None = None,
    file_id: UUID | None = None,
) -> int:
    """Embeds the passages (of one item, or of the whole library) that lack a current vector; returns
    how many it embedded. Batches are committed one by one (with their counts), so an interrupted
    run resumes where it stopped."""
    embedded = 0
    batch_size = ctx.settings.embedding.batch_size
    while True:
        async with ctx.db.write() as conn:
            rows = await library_repo.passages_missing_embedding(
                conn,
                user_id=user_id,
                item_id=item_id,
                model=ctx.embedder.model,
                version=ctx.embedder.version,
                limit=batch_size,
            )
        if not rows:
            return embedded
        vectors = await ctx.embedder.embed_passages([str(r["text"]) for r in rows])
        async with ctx.db.write() as conn, conn.transaction():
            # The statistics row first, as deletes take it: locking passages then statistics while a
            # delete holds statistics and cascades into passages deadlocked.
            await library_repo.lock_library(conn, user_id=user_id)
            # Passages of an item deleted while they were embedded are gone: their vectors land
            # nowhere and are not counted.
            stored = await library_repo.set_embeddings(
                conn,
                user_id=user_id,
                vectors={int(r["id"]): vectors[i].tolist() for i, r in enumerate(rows)},
                model=ctx.embedder.model,
                version=ctx.embedder.version,
            )
            if stored:
                await library_repo.bump_revision(conn, user_id=user_id)
            if run_id is not None:
                await repo.add_run_counts(conn, run_id=run_id, embedded=stored, file_id=file_id)
        embedded += stored


async def stale_vectors(*, db: Database, embedder: Embedder) -> dict[int, int]:
    """Returns user id -> chunks without a vector of the current model (never embedded, or by another)."""
    async with db.read() as conn:
        rows = await library_repo.stale_vector_counts(conn, model=embedder.model, version=embedder.version)
    return {int(r["user_id"]): int(r["n"]) for r in rows}


async def schedule_reembedding(*, db: Database, queue: IngestQueue, embedder: Embedder) -> dict[int, int]:
    """Queues re-embedding for every user with stale vectors; returns what it found stale."""
    stale = await stale_vectors(db=db, embedder=embedder)
    for user_id in stale:
        await queue.enqueue_reembedding(user_id=user_id)
    if stale:
        _log.warning(
            "%d chunks of %d users have no %s@%s vector; re-embedding them in the background "
            "(they are found by keyword meanwhile)",
            sum(stale.values()),
            len(stale),
            embedder.model,
            embedder.version,
        )
    return stale


def _chunk(sections: list[Section], settings: Settings, count_tokens: Callable[[str], int]) -> list[Chunk]:
    return chunk_sections(
        sections,
        chunk_tokens=settings.chunking.chunk_tokens,
        passage_tokens=settings.chunking.passage_tokens,
        overlap_ratio=settings.chunking.overlap_ratio,
        count_tokens=count_tokens,
    )


def _new_chunk(chunk: Chunk, content_type: str, config: str, reusable: dict[str, str]) -> NewChunk:
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
    )


def _passage_hashes(chunks: list[Chunk]) -> list[str]:
    return [content_hash(p) for c in chunks for p in c.passages]


def _title_from_filename(filename: str) -> str:
    stem = PurePath(filename).stem.replace("_", " ").replace("-", " ").strip()
    return (stem or filename)[:500]


def _title_from_text(text: str) -> str:
    first = " ".join(text.split())
    return first[:80] + ("…" if len(first) > 80 else "")
