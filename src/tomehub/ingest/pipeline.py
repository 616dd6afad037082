"""The worker's path for one queued file: read its original, parse it in the sandbox, chunk, index
and embed it, then finish it in its run. Every step is idempotent (unchanged chunks keep their
vectors, identical text is never embedded twice, a file is counted in its run once), and deletes
win: a file whose item was deleted meanwhile is dropped, never indexed after the delete.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any
from uuid import UUID

from tomehub.errors import DocumentError, DocumentTooLarge, EmptyDocument, PoisonFile
from tomehub.ingest import highlights, repo
from tomehub.ingest.chunking import Chunk, content_hash
from tomehub.ingest.page_progress import page_recorder
from tomehub.ingest.parsers import ParsedDocument
from tomehub.ingest.parsers.highlights import KINDLE, highlight_format, read_highlights
from tomehub.ingest.sandbox import PageProgress, parse_sandboxed
from tomehub.ingest.service import (
    BODY,
    EmbeddingFailed,
    ProcessingFailed,
    WorkerContext,
    chunk_text,
    new_chunk,
    passage_hashes,
    title_from_filename,
)
from tomehub.library import repo as library_repo
from tomehub.library.analysis import detect_config
from tomehub.library.repo import ChunkWrite, NewChunk
from tomehub.llm.embedder import EMBEDDING_FAILURES, describe_failure
from tomehub.store.db import Connection
from tomehub.store.originals import open_originals

_log = logging.getLogger(__name__)


class OriginalMissing(DocumentError):
    """A queued file whose kept original is not in the store (removed by hand, another store)."""

    code = "original_missing"


async def process_file(*, ctx: WorkerContext, file_id: UUID) -> None:
    """Parses, chunks, indexes and embeds one queued file. Safe to run again after any failure."""
    async with ctx.db.write() as conn, conn.transaction():
        row = await _load_file(conn, file_id)
        if row is None:
            _log.info("file %s already processed", file_id)
            return
        # Deletes win: a file whose item was deleted while it waited is dropped here, before any work.
        if await _cancel_if_deleted(conn, row, when="before it was processed"):
            return
        await repo.mark_run_started(conn, run_id=row["run_id"])
    run_id, user_id, item_id, filename = row["run_id"], row["user_id"], row["item_id"], row["filename"]
    try:
        data = await _read_original(ctx, row)
    except DocumentError as exc:
        await _fail_file(
            ctx, file_id=file_id, run_id=run_id, user_id=user_id, item_id=item_id, filename=filename, exc=exc
        )
        return
    fmt = highlight_format(data, filename)
    if fmt is not None:
        await _import_highlight_file(ctx, row, data, fmt)
        return
    try:
        # Scanned pages take seconds each: the run shows how many OCR has read.
        on_pages = page_recorder(ctx.db, file_id, asyncio.get_running_loop())
        doc, chunks, config = await asyncio.to_thread(_parse_and_chunk, ctx, data, filename, on_pages)
    except DocumentError as exc:
        await _fail_file(
            ctx, file_id=file_id, run_id=run_id, user_id=user_id, item_id=item_id, filename=filename, exc=exc
        )
        return
    # Read before the library's lock is taken: a vector copied from a row deleted meanwhile is still
    # the vector of that text.
    async with ctx.db.read() as conn:
        reusable = await library_repo.reusable_embeddings(
            conn,
            user_id=user_id,
            hashes=passage_hashes(chunks),
            model=ctx.embedder.model,
            version=ctx.embedder.version,
        )
        new_item = not await library_repo.existing_chunks(conn, item_id=item_id)
    # Only a new item's: every passage of it is written, so each vector lands and is counted once.
    embedded, failure = await _embed_up_front(ctx, chunks, reusable) if new_item else (0, None)
    written = [new_chunk(c, BODY, config, reusable) for c in chunks]
    try:
        async with ctx.db.write() as conn, conn.transaction():
            write = await _write_chunks(ctx, conn, row, written)
            fields: dict[str, object] = {"language": config, "status": "ready", "status_detail": None}
            item = await library_repo.get_item(conn, user_id=user_id, item_id=item_id)
            if item is not None and item["title"] == title_from_filename(filename) and doc.title:
                fields["title"] = doc.title[:500]
            if item is not None and not item["author"] and doc.author:
                fields["author"] = doc.author[:300]
            await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields=fields)
            await repo.add_run_counts(conn, run_id=run_id, written=write.inserted, embedded=embedded, file_id=file_id)
            # Every passage written with its vector (none kept from an earlier version, which may
            # lack one): the file is done in the same transaction as its chunks.
            complete = write.kept == 0 and all(p.embedding is not None for c in written for p in c.passages)
            if complete:
                await _finish(conn, row)
    except _ItemDeleted:
        # Rolled back, so nothing of the file was written; the file ends cancelled.
        async with ctx.db.write() as conn, conn.transaction():
            await library_repo.lock_library(conn, user_id=user_id)
            await _cancel_if_deleted(conn, row, when="before its text was indexed")
        return
    if failure is not None:
        await _embedding_failed(ctx, row, failure)
    elif not complete:
        await _embed_and_finish(ctx, row)


class _ItemDeleted(Exception):
    """The file's item was deleted before its chunks were indexed: the transaction rolls back."""


async def _write_chunks(
    ctx: WorkerContext, conn: Connection, row: dict[str, Any], chunks: list[NewChunk]
) -> ChunkWrite:
    """Writes a file's chunks in the caller's transaction, or raises _ItemDeleted.

    The library's lock serialises one user's writers, as they update the same postings, document
    frequencies and statistics. A new item's chunks and passages are added before it is taken: they
    are rows no one else can see, and inserting the passages' vectors into the HNSW graph is most of
    a small document's write, which other documents need not wait for. Then the lock deletion takes,
    then the item's row: a delete either committed before (and the file is cancelled) or waits until
    these chunks are written, and then deletes them."""
    user_id, item_id = row["user_id"], row["item_id"]
    model, version = ctx.embedder.model, ctx.embedder.version
    new_item = not await library_repo.existing_chunks(conn, item_id=item_id)
    added = (
        await library_repo.add_chunks(
            conn, user_id=user_id, item_id=item_id, chunks=chunks, embedding_model=model, embedding_version=version
        )
        if new_item
        else []
    )
    await library_repo.lock_library(conn, user_id=user_id)
    if not await library_repo.lock_live_item(conn, user_id=user_id, item_id=item_id):
        raise _ItemDeleted
    if new_item:
        return await library_repo.index_new_item_chunks(conn, user_id=user_id, chunk_ids=added)
    return await library_repo.write_chunks(
        conn, user_id=user_id, item_id=item_id, chunks=chunks, embedding_model=model, embedding_version=version
    )


async def _embed_up_front(
    ctx: WorkerContext, chunks: list[Chunk], reusable: dict[str, str]
) -> tuple[int, Exception | None]:
    """Embeds the passages of a new item's small file before its chunks are written, adding their
    vectors to ``reusable`` (content hash -> vector); returns how many passages took one, and the embedder's
    failure if it failed. The passages are then written with their vectors in one transaction:
    no second transaction updates them (each update is a new row version and a second entry in every
    index), and no query looks for passages missing a vector. A file of more passages than one
    embedding batch is embedded after its chunks are written, batch by batch (embed_pending), so
    that its run shows progress and an interruption resumes where it stopped."""
    passages = [p for c in chunks for p in c.passages]
    hashes = [content_hash(p) for p in passages]
    texts = dict(zip(hashes, passages, strict=True))
    missing = [h for h in texts if h not in reusable]
    if not missing or len(missing) > ctx.settings.embedding.batch_size:
        return 0, None
    try:
        vectors = await ctx.embedder.embed_passages([texts[h] for h in missing])
    except EMBEDDING_FAILURES as exc:
        return 0, exc
    reusable.update((h, library_repo.vector_literal(vectors[i].tolist())) for i, h in enumerate(missing))
    fresh = set(missing)
    return sum(h in fresh for h in hashes), None


async def embed_file(*, ctx: WorkerContext, file_id: UUID) -> None:
    """Tries again to embed a file whose text is indexed (its earlier embedding failed)."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        return
    # A highlight export's highlights are items of their own, embedded with the library's passages.
    head = await _read_original(ctx, row, limit=4096) if row["filename"].lower().endswith(".csv") else b""
    await _embed_and_finish(ctx, row, whole_library=highlight_format(head, row["filename"]) is not None)


async def _read_original(ctx: WorkerContext, row: dict[str, Any], *, limit: int | None = None) -> bytes:
    """Returns a queued file's bytes (the first ``limit`` of them): its kept original (files queued
    before originals were kept carry their bytes in the row)."""
    if row.get("data") is not None:
        return bytes(row["data"])[:limit]
    store = ctx.originals if ctx.originals is not None else open_originals(ctx.settings)
    size = await store.size(row["sha256"])
    if size is None:
        raise OriginalMissing(
            f"{row['filename']}: its kept original is missing from the store (originals_url); upload it again."
        )
    return await store.read_range(row["sha256"], 0, size if limit is None else min(size, limit))


async def _import_highlight_file(ctx: WorkerContext, row: dict[str, Any], data: bytes, fmt: str) -> None:
    """Imports an export's highlights as items of their own; the export's item records the counts."""
    file_id, run_id, user_id, item_id, filename = (
        row["id"], row["run_id"], row["user_id"], row["item_id"], row["filename"]
    )  # fmt: skip
    try:
        found = await asyncio.to_thread(read_highlights, data, filename, fmt)
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
    file_id, run_id, item_id = row["id"], row["run_id"], row["item_id"]
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
        await _finish(conn, row)


async def _finish(conn: Connection, row: dict[str, Any]) -> None:
    """Counts a file's reused passages and finishes it in its run, unless it is finished already.
    Call inside a transaction that holds the item's share lock (_cancel_if_deleted)."""
    file_id, run_id = row["id"], row["run_id"]
    if await _load_file(conn, file_id) is None:
        return
    # Passages this file did not embed itself were reused: kept, copied from identical text, or
    # embedded meanwhile by another job. An earlier attempt's embeddings count as its own.
    await repo.count_reused_passages(conn, file_id=file_id, run_id=run_id, item_id=row["item_id"])
    await repo.finish_file(conn, file_id=file_id, run_id=run_id, filename=row["filename"], error_code=None, error=None)
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


def _parse_and_chunk(
    ctx: WorkerContext, data: bytes, filename: str, on_pages: PageProgress | None = None
) -> tuple[ParsedDocument, list[Chunk], str]:
    # In a child process: a parser that crashes, hangs or runs out of memory fails this file only.
    doc = parse_sandboxed(data, filename, settings=ctx.settings.ingest, on_pages=on_pages)
    if doc.char_count > ctx.settings.ingest.max_document_chars:
        raise DocumentTooLarge(
            f"{filename} holds {doc.char_count:,} characters of text; the limit is "
            f"{ctx.settings.ingest.max_document_chars:,} (TOMEHUB_INGEST__MAX_DOCUMENT_CHARS)."
        )
    chunks = chunk_text(doc.sections, ctx.settings, ctx.embedder.count_tokens)
    if not chunks:
        raise EmptyDocument(f"{filename} has no text to index.")
    sample = " ".join(s.text for s in doc.sections[:20])[:4000]
    return doc, chunks, detect_config(sample)


async def give_up_file(*, ctx: WorkerContext, file_id: UUID, cause: Exception) -> None:
    """Marks a file failed after its last retry, so its run finishes and says why."""
    await _fail_queued_file(
        ctx,
        file_id,
        lambda row: ProcessingFailed(
            f"{row['filename']} could not be processed after several attempts ({cause.__class__.__name__}); "
            "it is kept and can be uploaded again."
        ),
    )


async def fail_poison_file(*, ctx: WorkerContext, file_id: UUID, deaths: int) -> None:
    """Marks a file failed whose worker died every time it was processed, so it is not tried again."""

    def poison(row: dict[str, Any]) -> DocumentError:
        _log.error("file %s is a poison file: its worker died %d times processing it", row["filename"], deaths)
        return PoisonFile(
            f"{row['filename']} could not be processed: the worker died {deaths} times while processing this "
            "file (killed, crashed or out of memory); it is not retried again."
        )

    await _fail_queued_file(ctx, file_id, poison)


async def _fail_queued_file(
    ctx: WorkerContext, file_id: UUID, failure: Callable[[dict[str, Any]], DocumentError]
) -> None:
    """Fails a file still queued with the error ``failure`` describes for its row (nothing if it finished)."""
    async with ctx.db.write() as conn:
        row = await _load_file(conn, file_id)
    if row is None:
        return
    await _fail_file(
        ctx,
        file_id=file_id,
        run_id=row["run_id"],
        user_id=row["user_id"],
        item_id=row["item_id"],
        filename=row["filename"],
        exc=failure(row),
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
