"""Several small files of one batch processed as one job.

A batch of abstracts or notes is thousands of files of a few kB each, and processed one per job each
file paid a job's fetch and finish, four transactions, an embedding call and an update of every
posting block its words touch. A group (``ingest.group_files`` files of at most
``ingest.group_file_max_bytes``, queued together by ``accept``) shares all of those: one claim
transaction, one embedding call, and one write transaction that indexes every file's chunks in one
postings update, so a word common to the group's files is written once, not once per file.

The single-file path (``pipeline.process_file``) stays the truth: a file that does not fit the
shared path (a highlight export, an item that already has chunks, more passages than one
embedding batch) is processed on it, and so is every file of the group when the shared write cannot
commit (an item deleted meanwhile). A file that fails to parse fails alone, as on that path.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tomehub.errors import DocumentError
from tomehub.ingest import repo
from tomehub.ingest.chunking import Chunk, content_hash
from tomehub.ingest.page_progress import page_recorder
from tomehub.ingest.parsers import ParsedDocument
from tomehub.ingest.parsers.highlights import highlight_format
from tomehub.ingest.pipeline import (
    _cancel_if_deleted,
    _embed_and_finish,
    _embedding_failed,
    _fail_file,
    _parse_and_chunk,
    _read_original,
    process_file,
)
from tomehub.ingest.service import BODY, WorkerContext, new_chunk, passage_hashes, title_from_filename
from tomehub.library import repo as library_repo
from tomehub.library.repo import NewChunk
from tomehub.llm.embedder import EMBEDDING_FAILURES

_log = logging.getLogger(__name__)


@dataclass(eq=False)  # compared by identity
class _Parsed:
    row: dict[str, Any]
    doc: ParsedDocument
    chunks: list[Chunk]
    config: str
    written: list[NewChunk] | None = None
    embedded: int = 0


class _ItemGone(Exception):
    """An item of the group was deleted before its chunks were indexed: the shared write rolls back."""


async def process_files(*, ctx: WorkerContext, file_ids: list[UUID]) -> None:
    """Processes a group of small queued files of one user. Safe to run again after any failure:
    files finished already are skipped, the others converge on the same chunks."""
    rows = await _claim(ctx, file_ids)
    # One at a time: the sandbox parses as many files at once as it has children (ingest.parse_workers),
    # and a parse waiting for one holds a thread of the event loop's pool, which the batch's
    # unpacking needs to read and keep its files (16 parses queued at once left it none).
    parsed: list[_Parsed] = []
    alone: list[UUID] = []
    for row in rows:
        outcome = await _parse(ctx, row)
        if isinstance(outcome, _Parsed):
            parsed.append(outcome)
        elif outcome:
            alone.append(row["id"])
    if parsed:
        alone += await _process_new_items(ctx, parsed)
    for file_id in alone:
        await process_file(ctx=ctx, file_id=file_id)


async def _claim(ctx: WorkerContext, file_ids: list[UUID]) -> list[dict[str, Any]]:
    """Returns the group's files still queued whose item is live, their runs marked started; a file
    whose item was deleted while it waited ends cancelled here, as on the single-file path."""
    claimed = []
    async with ctx.db.write() as conn, conn.transaction():
        for row in await repo.claim_files(conn, file_ids=file_ids):
            if not await _cancel_if_deleted(conn, row, when="before it was processed"):
                claimed.append(row)
        for run_id in {row["run_id"] for row in claimed}:
            await repo.mark_run_started(conn, run_id=run_id)
    return claimed


async def _parse(ctx: WorkerContext, row: dict[str, Any]) -> _Parsed | bool | None:
    """Parses and chunks one file of the group: its parse, or True when it goes the single-file way,
    or None when it failed (recorded on its run)."""
    file_id, filename = row["id"], row["filename"]
    try:
        data = await _read_original(ctx, row)
        if highlight_format(data, filename) is not None:
            return True
        on_pages = page_recorder(ctx.db, file_id, asyncio.get_running_loop())
        doc, chunks, config = await asyncio.to_thread(_parse_and_chunk, ctx, data, filename, on_pages)
    except DocumentError as exc:
        await _fail_file(
            ctx, file_id=file_id, run_id=row["run_id"], user_id=row["user_id"], item_id=row["item_id"],
            filename=filename, exc=exc,
        )  # fmt: skip
        return None
    return _Parsed(row, doc, chunks, config)


async def _process_new_items(ctx: WorkerContext, parsed: list[_Parsed]) -> list[UUID]:
    """Embeds and writes the new items of the group together; returns the files left to the single-file path."""
    user_id = parsed[0].row["user_id"]
    batch = ctx.settings.embedding.batch_size
    async with ctx.db.read() as conn:
        reusable = await library_repo.reusable_embeddings(
            conn,
            user_id=user_id,
            hashes=[h for p in parsed for h in passage_hashes(p.chunks)],
            model=ctx.embedder.model,
            version=ctx.embedder.version,
        )
        with_chunks = await library_repo.items_with_chunks(conn, item_ids=[p.row["item_id"] for p in parsed])
    # Not a new item (a file uploaded again, or a second copy in this group of a file's bytes), or
    # too many passages for one embedding call: the single-file path, after the group, which keeps
    # unchanged chunks and embeds large files batch by batch.
    group: list[_Parsed] = []
    alone: list[_Parsed] = []
    for p in parsed:
        item_id = p.row["item_id"]
        seen = item_id in with_chunks or any(g.row["item_id"] == item_id for g in group)
        (alone if seen or _missing(p.chunks, reusable) > batch else group).append(p)
    if not group:
        return [p.row["id"] for p in alone]

    failure = await _embed(ctx, group, reusable)
    try:
        incomplete = await _write(ctx, group, reusable)
    except _ItemGone:
        # Rolled back: each file again alone, where a deleted item's file is cancelled.
        _log.info("an item of a group of %d files was deleted; processing them one by one", len(parsed))
        return [p.row["id"] for p in parsed]
    for p in incomplete:
        if failure is not None:
            await _embedding_failed(ctx, p.row, failure)
        else:
            await _embed_and_finish(ctx, p.row)
    return [p.row["id"] for p in alone]


def _missing(chunks: list[Chunk], reusable: dict[str, str]) -> int:
    return len({h for h in passage_hashes(chunks) if h not in reusable})


async def _embed(ctx: WorkerContext, group: list[_Parsed], reusable: dict[str, str]) -> Exception | None:
    """Embeds the group's passages that have no vector yet, one call per embedding batch, adding
    them to ``reusable``; returns the embedder's failure (the files are then written without vectors
    and retried as on the single-file path)."""
    texts = {content_hash(t): t for p in group for c in p.chunks for t in c.passages}
    missing = [h for h in texts if h not in reusable]
    batch = ctx.settings.embedding.batch_size
    fresh: set[str] = set()
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        try:
            vectors = await ctx.embedder.embed_passages([texts[h] for h in part])
        except EMBEDDING_FAILURES as exc:
            return exc
        reusable.update((h, library_repo.vector_literal(vectors[i].tolist())) for i, h in enumerate(part))
        fresh.update(part)
    # Each passage embedded is counted once, in the first file that holds it.
    counted: set[str] = set()
    for p in group:
        own = {h for h in passage_hashes(p.chunks) if h in fresh and h not in counted}
        counted |= own
        p.embedded = sum(1 for h in passage_hashes(p.chunks) if h in own)
    return None


async def _write(ctx: WorkerContext, group: list[_Parsed], reusable: dict[str, str]) -> list[_Parsed]:
    """Writes and indexes the group's new items in one transaction, or raises _ItemGone (rolled back);
    returns the files not finished (a passage without its vector: the embedder failed).
    The order is the single-file path's: chunks added before the library's lock, then the lock, then
    the items' rows (a delete either committed before, or waits for these chunks and deletes them)."""
    user_id = group[0].row["user_id"]
    model, version = ctx.embedder.model, ctx.embedder.version

    async with ctx.db.write() as conn, conn.transaction():
        chunk_ids: list[int] = []
        for p in group:
            p.written = [new_chunk(c, BODY, p.config, reusable) for c in p.chunks]
            chunk_ids += await library_repo.add_chunks(
                conn, user_id=user_id, item_id=p.row["item_id"], chunks=p.written,
                embedding_model=model, embedding_version=version,
            )  # fmt: skip

        await library_repo.lock_library(conn, user_id=user_id)
        items = [p.row["item_id"] for p in group]
        if await library_repo.live_items(conn, user_id=user_id, item_ids=items) != set(items):
            raise _ItemGone
        await library_repo.index_new_item_chunks(conn, user_id=user_id, chunk_ids=chunk_ids)
        await library_repo.mark_items_indexed(
            conn,
            user_id=user_id,
            items=[
                (p.row["item_id"], p.config, title_from_filename(p.row["filename"]),
                 (p.doc.title or "")[:500], (p.doc.author or "")[:300])
                for p in group
            ],
        )  # fmt: skip
        await repo.add_files_embedded(conn, embedded={p.row["id"]: p.embedded for p in group if p.embedded})
        runs: dict[UUID, list[_Parsed]] = defaultdict(list)
        for p in group:
            runs[p.row["run_id"]].append(p)
        complete = [p for p in group if all(x.embedding is not None for c in p.written or [] for x in c.passages)]
        for run_id, files in runs.items():
            written = sum(len(p.written or []) for p in files)
            await repo.add_run_counts(conn, run_id=run_id, written=written, embedded=sum(p.embedded for p in files))
            done = [p.row["id"] for p in files if p in complete]
            await repo.finish_files_done(conn, run_id=run_id, file_ids=done)
            if any(p.row.get("embedding_attempts") for p in files if p in complete):
                await repo.set_embedding_retry(conn, run_id=run_id, error=None, retry_at_s=None)
    return [p for p in group if p not in complete]
