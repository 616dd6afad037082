"""Accepting uploads: each file is kept (its original, by SHA-256), recorded as an item and a queued
file of a run, and handed to the job queue. The worker (``pipeline``) does the rest.

A batch is recorded one file per transaction, each file read only when its turn comes: a 20,000-file
zip neither sits in memory nor holds one transaction open for minutes, and a file that cannot be
read (too large, corrupt, an unsupported type) fails alone while the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import mimetypes
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import BinaryIO
from uuid import UUID

import psycopg

from tomehub.config import Settings
from tomehub.errors import BadInput, PayloadTooLarge, TomehubError
from tomehub.ingest import repo
from tomehub.ingest.archive import Incoming, OpenBatch, OpenBatches, ZipBatch
from tomehub.ingest.parsers import detect_format
from tomehub.ingest.schemas import IngestAccepted
from tomehub.ingest.service import IngestQueue, UploadMeta, title_from_filename
from tomehub.library import repo as library_repo
from tomehub.library.schemas import ItemType
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Connection, Database
from tomehub.store.originals import OriginalStore, open_originals

_log = logging.getLogger(__name__)


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

    async def record() -> tuple[UUID, UUID, UUID, bool]:
        async with db.write(deadline) as conn, conn.transaction():
            run_id = await repo.create_run(conn, user_id=user_id, label=filename, files_total=1)
            item_id, file_id, duplicate = await _record_file(
                conn, originals, user_id=user_id, run_id=run_id, name=filename, data=data, meta=meta
            )
        return run_id, item_id, file_id, duplicate

    try:
        run_id, item_id, file_id, duplicate = await record()
    except psycopg.errors.UniqueViolation:
        # The same file arrived twice at once; the other upload created the item, so this one
        # now finds it and becomes a re-check of it.
        run_id, item_id, file_id, duplicate = await record()
    await _enqueue(db=db, queue=queue, file_ids=[file_id], position=await _waiting(db, user_id, [file_id]))
    return IngestAccepted(
        run_id=run_id,
        item_id=item_id,
        status="queued",
        duplicate=duplicate,
        status_url=f"/api/ingest/runs/{run_id}",
    )


async def submit_files(
    *,
    db: Database,
    queue: IngestQueue,
    settings: Settings,
    user_id: int,
    label: str,
    files: Sequence[Incoming],
    meta: UploadMeta,
    originals: OriginalStore | None = None,
) -> UUID:
    """Accepts a batch as one run, file by file (each read off the event loop, recorded in its own
    transaction and queued at once, so the worker starts before the batch is all recorded); a file
    that cannot be read or is not a document fails alone. Returns the run id."""
    originals = originals if originals is not None else open_originals(settings)
    async with db.write() as conn:
        run_id = await repo.create_run(conn, user_id=user_id, label=label, files_total=len(files))
    recorded = 0
    try:
        recorded = await _record_files(
            db, queue, settings, originals, user_id=user_id, run_id=run_id, files=files, meta=meta
        )
    finally:
        if recorded < len(files):
            # Interrupted (a database outage, the process stopping): the run covers what was
            # recorded, so it still finishes instead of waiting for files that never came.
            _log.warning("batch %s interrupted after %d of %d files", label, recorded, len(files))
            async with db.write() as conn:
                await repo.set_files_total(conn, run_id=run_id, files_total=recorded)
    return run_id


async def accept_batch(
    *,
    db: Database,
    queue: IngestQueue,
    settings: Settings,
    user_id: int,
    label: str,
    archive: BinaryIO,
    meta: UploadMeta,
    originals: OriginalStore,
) -> tuple[UUID, int]:
    """Accepts an uploaded zip (already on disk) as one run and answers at once: the zip is checked
    against the batch limits, kept, and unpacked by a job (``unpack_batch``) entry by entry, so a
    20,000-file zip is answered in seconds, not after every file is recorded. Returns (run id, files)."""
    limits = settings.ingest

    def check_and_hash() -> tuple[int, str]:
        with ZipBatch(archive, limits=limits, label=label) as batch:
            count = len(batch.entries)
        if not count:
            raise BadInput(f"{label} holds no files.")
        archive.seek(0)
        digest = hashlib.sha256()
        while piece := archive.read(1024 * 1024):
            digest.update(piece)
        return count, digest.hexdigest()

    count, digest = await asyncio.to_thread(check_and_hash)
    async with db.write() as conn, conn.transaction():
        # The zip is kept before its run names it; the lock keeps a concurrent removal away.
        await library_repo.lock_original(conn, file_sha256=digest)
        await originals.put_file(digest, archive)
        run_id = await repo.create_run(conn, user_id=user_id, label=label, files_total=count)
        batch = {"sha256": digest, "item_type": meta.item_type.value, "tags": list(meta.tags)}
        await repo.set_run_batch(conn, run_id=run_id, batch=batch)
    await queue.enqueue_unpack(run_id, position=await _waiting(db, user_id, []))
    return run_id, count


# The zips this process is unpacking, open between their parts (ingest/archive.py, OpenBatches).
_OPEN_BATCHES = OpenBatches()


async def unpack_batch(
    *, db: Database, queue: IngestQueue, settings: Settings, originals: OriginalStore, run_id: UUID
) -> None:
    """Records the next ``ingest.unpack_batch_files`` entries of a batch's zip, then queues itself
    again halfway behind the files it queued (so workers process one part while the next is
    unpacked, and other users' files keep their turn); the last part releases the zip. Idempotent: entries a
    run has recorded already are skipped, so a job run again after a crash resumes where it was."""
    async with db.read() as conn:
        run = await repo.get_run_batch(conn, run_id=run_id)
    if run is None or run["batch"] is None:
        _OPEN_BATCHES.discard(run_id)
        return  # unpacked already (or the run is gone)
    batch = run["batch"]
    meta = UploadMeta(item_type=ItemType(batch["item_type"]), tags=tuple(batch["tags"]))
    kept = _OPEN_BATCHES.take(run_id)
    try:
        # Entered for every part, also with the zip open: a zip gone from the store ends the batch.
        async with originals.local_copy(batch["sha256"]) as path:
            kept = await _reopened(db, settings, run_id=run_id, label=run["label"], path=path, kept=kept)
            part = kept.next_part(settings.ingest.unpack_batch_files)
            done = await _record_files(
                db, queue, settings, originals, user_id=int(run["user_id"]), run_id=run_id,
                files=[incoming for _, incoming in part], meta=meta,
            )  # fmt: skip
    except BaseException:
        if kept is not None:
            kept.batch.close()
        raise
    if part and part[-1][0] + 1 < len(kept.batch.entries):
        kept.next_entry, kept.recorded = part[-1][0] + 1, kept.recorded + done
        _OPEN_BATCHES.keep(run_id, kept)
        # Halfway through the files it queued, not behind them all: the next part is recorded while
        # workers process the rest of this one, instead of after the queue has run dry.
        await queue.enqueue_unpack(run_id, position=await _waiting(db, int(run["user_id"]), []) // 2)
        return
    kept.batch.close()
    async with db.write() as conn, conn.transaction():
        await library_repo.lock_original(conn, file_sha256=batch["sha256"])
        await repo.set_run_batch(conn, run_id=run_id, batch=None)
        if not await library_repo.original_in_use(conn, file_sha256=batch["sha256"]):
            await originals.delete(batch["sha256"])


async def _reopened(
    db: Database, settings: Settings, *, run_id: UUID, label: str, path: Path, kept: OpenBatch | None
) -> OpenBatch:
    """The run's zip with where its next part starts: the one this process kept open after the last
    part, while the run has recorded no file since (its parts may also run in other processes);
    otherwise the zip opened again, its recorded entries found by name."""
    async with db.read() as conn:
        recorded = await repo.count_recorded_files(conn, run_id=run_id)
        if kept is not None and kept.recorded == recorded:
            return kept
        names = Counter(await repo.recorded_files(conn, run_id=run_id))
    if kept is not None:
        kept.batch.close()
    zipped = await asyncio.to_thread(ZipBatch, path, limits=settings.ingest, label=label)
    return OpenBatch(zipped, recorded=recorded, skip=names)


async def abandon_batch(*, db: Database, run_id: UUID, cause: Exception) -> None:
    """Ends a batch whose zip could not be unpacked: the entries not recorded become one failed
    entry of the run, named after the zip, with the reason."""
    _OPEN_BATCHES.discard(run_id)
    async with db.write() as conn, conn.transaction():
        run = await repo.get_run_batch(conn, run_id=run_id)
        if run is None or run["batch"] is None:
            return
        recorded = len(await repo.recorded_files(conn, run_id=run_id))
        await repo.set_run_batch(conn, run_id=run_id, batch=None)
        await repo.set_files_total(conn, run_id=run_id, files_total=recorded + 1)
        user_id = int(run["user_id"])
        item_id = await library_repo.insert_item(
            conn, user_id=user_id, item_type=ItemType.BOOK.value, title=run["label"], status="failed"
        )
        message = (
            f"The rest of {run['label']} could not be unpacked ({cause.__class__.__name__}); "
            f"{recorded} of its files were recorded. Upload the files that are missing again."
        )
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields={"status_detail": message})
        await repo.add_failed_file(
            conn, run_id=run_id, user_id=user_id, item_id=item_id, filename=run["label"],
            code="processing_failed", message=message,
        )  # fmt: skip
    _log.error("batch run %s abandoned after %d files: %r", run_id, recorded, cause)


async def _record_files(
    db: Database,
    queue: IngestQueue,
    settings: Settings,
    originals: OriginalStore,
    *,
    user_id: int,
    run_id: UUID,
    files: Sequence[Incoming],
    meta: UploadMeta,
) -> int:
    """Records and queues files in their order (a file that cannot be read fails alone); returns how
    many were recorded. Small files are recorded and queued in groups of ``ingest.group_files`` (one
    transaction and one job a group: ingest/grouped.py), the others one at a time."""
    limits = settings.ingest
    position = await _waiting(db, user_id, [])
    recorded = 0
    group: list[tuple[str, bytes]] = []

    async def record_group() -> None:
        nonlocal position, recorded
        file_ids = await _record_many(db, originals, user_id=user_id, run_id=run_id, files=group, meta=meta)
        recorded += len(group)
        group.clear()
        await _enqueue(db=db, queue=queue, file_ids=file_ids, position=position, together=True)
        position += len(file_ids)

    try:
        for incoming in files:
            try:
                data = await asyncio.to_thread(_read_document, incoming, settings)
            except TomehubError as exc:
                await _record_refused(db, user_id=user_id, run_id=run_id, name=incoming.name, meta=meta, exc=exc)
                recorded += 1
                continue
            if limits.group_files > 1 and len(data) <= limits.group_file_max_bytes:
                group.append((incoming.name, data))
                if len(group) >= limits.group_files:
                    await record_group()
                continue
            (file_id,) = await _record_many(
                db, originals, user_id=user_id, run_id=run_id, files=[(incoming.name, data)], meta=meta
            )
            recorded += 1
            await _enqueue(db=db, queue=queue, file_ids=[file_id], position=position)
            position += 1
    except BaseException:
        # Interrupted: the files read so far are recorded and queued rather than dropped (should
        # this fail too, the batch's run covers only what was recorded).
        if group:
            with contextlib.suppress(Exception):
                await record_group()
        raise
    if group:
        await record_group()
    return recorded


def _read_document(incoming: Incoming, settings: Settings) -> bytes:
    data = incoming.read()
    check_upload_size(len(data), settings=settings, filename=incoming.name)
    detect_format(data, incoming.name)
    return data


async def _record_many(
    db: Database,
    originals: OriginalStore,
    *,
    user_id: int,
    run_id: UUID,
    files: list[tuple[str, bytes]],
    meta: UploadMeta,
) -> list[UUID]:
    """Records files (name, bytes) of a batch as ``_record_file`` does one, in one transaction and a
    few statements for them all; returns their file ids in order. Recorded one at a time, a batch of
    small files took ~10 ms a file, slower than the workers processed them."""
    digests = [sha256_of(data) for _, data in files]
    for attempt in (1, 2):
        try:
            async with db.write() as conn, conn.transaction():
                # Every original's lock, in one order: batches holding the same files never wait
                # for each other's locks in a cycle.
                await library_repo.lock_originals(conn, file_sha256s=digests)
                kept = dict(zip(digests, (data for _, data in files), strict=True))
                await asyncio.gather(*(originals.put(digest, data) for digest, data in kept.items()))
                items = await library_repo.find_items_by_files(conn, user_id=user_id, file_sha256s=digests)
                for item_id in set(items.values()):
                    await _apply_meta(conn, user_id=user_id, item_id=item_id, meta=meta)
                first: dict[str, str] = {}  # each new file's item is named after its first copy
                for (name, _), digest in zip(files, digests, strict=True):
                    first.setdefault(digest, name)
                new = [(digest, name) for digest, name in first.items() if digest not in items]
                items |= await library_repo.insert_file_items(
                    conn,
                    user_id=user_id,
                    item_type=meta.item_type.value,
                    author=meta.author,
                    tags=list(meta.tags),
                    files=[
                        (
                            digest,
                            meta.title or title_from_filename(name),
                            PurePath(name).name,
                            mime_of(kept[digest], name),
                        )
                        for digest, name in new
                    ],
                )
                return await repo.add_files(
                    conn,
                    run_id=run_id,
                    user_id=user_id,
                    files=[
                        (items[digest], name, len(data), digest)
                        for (name, data), digest in zip(files, digests, strict=True)
                    ],
                )
        except psycopg.errors.UniqueViolation:
            if attempt == 2:
                raise  # the same file arriving at once elsewhere is found on the second try
    raise AssertionError("unreachable")


async def _record_file(
    conn: Connection,
    originals: OriginalStore,
    *,
    user_id: int,
    run_id: UUID,
    name: str,
    data: bytes,
    meta: UploadMeta,
) -> tuple[UUID, UUID, bool]:
    """Keeps the original and records its item (new, or the one with the same bytes) and queued
    file; returns (item id, file id, whether the item existed). Call inside a transaction."""
    digest = sha256_of(data)
    # Kept before the job is queued (a worker elsewhere reads it); the lock keeps a concurrent
    # delete of the last item sharing this file from removing it meanwhile.
    await library_repo.lock_original(conn, file_sha256=digest)
    await originals.put(digest, data)
    item_id = await library_repo.find_item_by_file(conn, user_id=user_id, file_sha256=digest)
    duplicate = item_id is not None
    if item_id is None:
        item_id = await library_repo.insert_item(
            conn,
            user_id=user_id,
            item_type=meta.item_type.value,
            title=meta.title or title_from_filename(name),
            author=meta.author,
            tags=list(meta.tags),
            source_filename=PurePath(name).name,
            source_mime=mime_of(data, name),
            file_sha256=digest,
            status="pending",
        )
    else:
        await _apply_meta(conn, user_id=user_id, item_id=item_id, meta=meta)
    file_id = await repo.add_file(
        conn, run_id=run_id, user_id=user_id, item_id=item_id, filename=name, size_bytes=len(data), sha256=digest
    )
    return item_id, file_id, duplicate


async def _record_refused(
    db: Database, *, user_id: int, run_id: UUID, name: str, meta: UploadMeta, exc: TomehubError
) -> None:
    """Records a file of a batch refused before it was queued, as a failed item saying why."""
    async with db.write() as conn, conn.transaction():
        item_id = await library_repo.insert_item(
            conn,
            user_id=user_id,
            item_type=meta.item_type.value,
            title=title_from_filename(name),
            source_filename=PurePath(name).name,
            status="failed",
        )
        await library_repo.update_item(conn, user_id=user_id, item_id=item_id, fields={"status_detail": str(exc)})
        await repo.add_failed_file(
            conn, run_id=run_id, user_id=user_id, item_id=item_id, filename=name, code=exc.code, message=exc.message
        )


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


async def _waiting(db: Database, user_id: int, excluding: list[UUID]) -> int:
    """Files of this user already waiting: a new file queues behind them (fairness between users)."""
    async with db.read() as conn:
        return await repo.queued_files(conn, user_id=user_id, excluding=excluding)


async def _enqueue(
    *, db: Database, queue: IngestQueue, file_ids: list[UUID], position: int = 0, together: bool = False
) -> None:
    """Queues files one job each, or (``together``, more than one file) all as one job."""
    if together and len(file_ids) > 1:
        job_id = await queue.enqueue_files(file_ids, position=position)
        async with db.write() as conn:
            await repo.set_job_ids(conn, file_ids=file_ids, job_id=job_id)
        return
    for offset, file_id in enumerate(file_ids):
        job_id = await queue.enqueue_file(file_id, position=position + offset)
        async with db.write() as conn:
            await repo.set_job_id(conn, file_id=file_id, job_id=job_id)


async def requeue_orphans(*, db: Database, queue: IngestQueue, older_than_s: float = 30.0) -> int:
    """Queues files recorded but never enqueued (their process died in between); returns how many."""
    async with db.write() as conn:
        orphans = await repo.unqueued_files(conn, older_than_s=older_than_s)
    await _enqueue(db=db, queue=queue, file_ids=orphans)
    return len(orphans)
