"""The durable ingestion queue: procrastinate jobs in the same PostgreSQL.

Jobs survive restarts and run on any worker that can reach the database: in-process in the embedded
default, or ``tomehub worker`` processes for scale-out. Failures other than a bad document (which
fails its own file and nothing else) are retried with exponential backoff; every job is idempotent,
so a job whose worker was killed mid-way is simply run again (workers send heartbeats; a job whose
worker stopped beating is put back in the queue by any other worker). A file job carries how many
workers died running it: after ``ingest.max_job_attempts`` deaths the file fails as a poison file
instead of taking down every worker in turn.

Fairness: a user's k-th waiting file gets priority -k, so workers take files round-robin across
users: one user's 10,000 files do not hold back another user's one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import procrastinate
from procrastinate.job_context import JobContext

from tomehub.ingest import accept, grouped, pipeline
from tomehub.ingest.service import WorkerContext
from tomehub.store.originals import open_originals

_log = logging.getLogger(__name__)

QUEUE = "ingest"
_CONTEXT_KEY = "tomehub"
# Transient failures (database restarts, pool timeouts) are retried: 2, 4, 8, 16... seconds.
_MAX_ATTEMPTS = 8
_RETRY = procrastinate.RetryStrategy(max_attempts=_MAX_ATTEMPTS, exponential_wait=2)


def _worker_context(context: JobContext) -> WorkerContext:
    ctx = context.additional_context.get(_CONTEXT_KEY)
    if not isinstance(ctx, WorkerContext):
        raise RuntimeError("the ingestion worker was started without its context")
    return ctx


def _last_attempt(context: JobContext) -> bool:
    return context.job.attempts + 1 >= _MAX_ATTEMPTS


async def _unpack_batch(context: JobContext, run_id: str) -> None:
    ctx = _worker_context(context)
    assert ctx.queue is not None, "unpacking queues the batch's files"
    originals = ctx.originals if ctx.originals is not None else open_originals(ctx.settings)
    try:
        await accept.unpack_batch(
            db=ctx.db, queue=ctx.queue, settings=ctx.settings, originals=originals, run_id=UUID(run_id)
        )
    except Exception as exc:
        if not _last_attempt(context):
            raise
        # Out of retries (the zip is gone from the store, the database keeps failing): the run
        # ends with what was recorded and says why, instead of waiting for files that never come.
        await accept.abandon_batch(db=ctx.db, run_id=UUID(run_id), cause=exc)


async def _process_file(context: JobContext, file_id: str, deaths: int = 0) -> None:
    ctx = _worker_context(context)
    if deaths >= ctx.settings.ingest.max_job_attempts:
        await pipeline.fail_poison_file(ctx=ctx, file_id=UUID(file_id), deaths=deaths)
        return
    try:
        await pipeline.process_file(ctx=ctx, file_id=UUID(file_id))
    except Exception as exc:
        if not _last_attempt(context):
            raise
        # Out of retries: the file fails visibly in its run (its bytes are kept) instead of
        # leaving the run "running" forever.
        _log.exception("giving up on file %s", file_id)
        await pipeline.give_up_file(ctx=ctx, file_id=UUID(file_id), cause=exc)


async def _process_files(context: JobContext, file_ids: list[str]) -> None:
    # A group never carries deaths: one that loses its worker is split into single-file jobs
    # (JobQueue.retry_stalled), so a poison file is found among them and fails alone.
    ctx = _worker_context(context)
    ids = [UUID(f) for f in file_ids]
    try:
        await grouped.process_files(ctx=ctx, file_ids=ids)
    except Exception as exc:
        if not _last_attempt(context):
            raise
        _log.exception("giving up on a group of %d files", len(ids))
        for file_id in ids:
            await pipeline.give_up_file(ctx=ctx, file_id=file_id, cause=exc)


async def _embed_file(context: JobContext, file_id: str, deaths: int = 0) -> None:
    ctx = _worker_context(context)
    if deaths >= ctx.settings.ingest.max_job_attempts:
        await pipeline.fail_poison_file(ctx=ctx, file_id=UUID(file_id), deaths=deaths)
        return
    try:
        await pipeline.embed_file(ctx=ctx, file_id=UUID(file_id))
    except Exception as exc:
        if not _last_attempt(context):
            raise
        _log.exception("giving up on embedding file %s", file_id)
        await pipeline.give_up_file(ctx=ctx, file_id=UUID(file_id), cause=exc)


async def _embed_item(context: JobContext, user_id: int, item_id: str) -> None:
    await pipeline.embed_pending(ctx=_worker_context(context), user_id=user_id, item_id=UUID(item_id))


async def _reembed_user(context: JobContext, user_id: int) -> None:
    await pipeline.embed_pending(ctx=_worker_context(context), user_id=user_id, item_id=None)


class JobQueue:
    """TomeHub's one interface to the job queue (implements ``service.IngestQueue``)."""

    PROCESS_FILE = "tomehub.process_file"
    PROCESS_FILES = "tomehub.process_files"
    UNPACK_BATCH = "tomehub.unpack_batch"
    EMBED_ITEM = "tomehub.embed_item"
    EMBED_FILE = "tomehub.embed_file"
    REEMBED_USER = "tomehub.reembed_user"
    # Jobs that parse or embed one file: a death is counted against the file (poison files).
    _COUNTS_DEATHS = frozenset({PROCESS_FILE, EMBED_FILE})

    def __init__(self, url: str, *, pool_max_size: int = 3) -> None:
        connector = procrastinate.PsycopgConnector(
            conninfo=url,
            min_size=1,
            max_size=pool_max_size,
            kwargs={"application_name": "tomehub-queue"},
        )
        self.app = procrastinate.App(connector=connector)
        self.app.task(name=self.PROCESS_FILE, queue=QUEUE, pass_context=True, retry=_RETRY)(_process_file)
        self.app.task(name=self.PROCESS_FILES, queue=QUEUE, pass_context=True, retry=_RETRY)(_process_files)
        self.app.task(name=self.UNPACK_BATCH, queue=QUEUE, pass_context=True, retry=_RETRY)(_unpack_batch)
        self.app.task(name=self.EMBED_ITEM, queue=QUEUE, pass_context=True, retry=_RETRY)(_embed_item)
        self.app.task(name=self.EMBED_FILE, queue=QUEUE, pass_context=True, retry=_RETRY)(_embed_file)
        self.app.task(name=self.REEMBED_USER, queue=QUEUE, pass_context=True, retry=_RETRY)(_reembed_user)

    async def open(self) -> None:
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def enqueue_file(self, file_id: UUID, *, position: int = 0) -> int:
        """Queues a file; ``position`` is how many files of the same user wait before it."""
        job_id: int = await self.app.configure_task(self.PROCESS_FILE, priority=-position).defer_async(
            file_id=str(file_id)
        )
        return job_id

    async def enqueue_files(self, file_ids: list[UUID], *, position: int = 0) -> int:
        """Queues small files of one user to be processed as one job (``grouped``)."""
        job_id: int = await self.app.configure_task(self.PROCESS_FILES, priority=-position).defer_async(
            file_ids=[str(f) for f in file_ids]
        )
        return job_id

    async def enqueue_unpack(self, run_id: UUID, *, position: int = 0) -> int:
        """Queues the next part of a batch's unpacking behind ``position`` files of its user. The lock
        runs a run's parts one at a time: a part retried after a crash and the continuation it had
        already queued never record the same entries at once."""
        job_id: int = await self.app.configure_task(
            self.UNPACK_BATCH, priority=-position, lock=f"unpack:{run_id}"
        ).defer_async(run_id=str(run_id))
        return job_id

    async def enqueue_embedding(self, *, user_id: int, item_id: UUID) -> int:
        job_id: int = await self.app.configure_task(self.EMBED_ITEM).defer_async(user_id=user_id, item_id=str(item_id))
        return job_id

    async def enqueue_file_embedding(self, file_id: UUID, *, at: datetime) -> int:
        """Queues, for ``at``, another try at embedding a file whose text is indexed."""
        job_id: int = await self.app.configure_task(self.EMBED_FILE, schedule_at=at).defer_async(file_id=str(file_id))
        return job_id

    async def enqueue_reembedding(self, *, user_id: int) -> int | None:
        """Queues the re-embedding of a user's stale vectors; None if one is already waiting."""
        try:
            job_id: int = await self.app.configure_task(
                self.REEMBED_USER, queueing_lock=f"reembed:{user_id}"
            ).defer_async(user_id=user_id)
        except procrastinate.exceptions.AlreadyEnqueued:
            return None
        return job_id

    async def retry_stalled(self, *, silent_for_s: float) -> int:
        """Puts back the jobs of workers that stopped sending heartbeats (killed, lost); returns how many."""
        stalled = list(await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=silent_for_s))
        for job in stalled:
            _log.warning("job %s (%s) lost its worker; running it again", job.id, job.task_name)
            if job.task_name in self._COUNTS_DEATHS:
                previous = job.task_kwargs.get("deaths")
                deaths = (previous if isinstance(previous, int) else 0) + 1
                await self._replace(job, [(job.task_name, {**job.task_kwargs, "deaths": deaths})])
            elif job.task_name == self.PROCESS_FILES:
                # Each file of the group alone, one death counted: a poison file among them fails
                # alone instead of taking its group (and every worker in turn) down again.
                files = job.task_kwargs.get("file_ids")
                ids = [str(f) for f in files] if isinstance(files, list) else []
                await self._replace(job, [(self.PROCESS_FILE, {"file_id": f, "deaths": 1}) for f in ids])
            else:
                await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def _replace(self, job: procrastinate.jobs.Job, jobs: list[tuple[str, dict[str, Any]]]) -> None:
        """Replaces a dead worker's file job with ``jobs`` (task, arguments), each for one file that
        then knows how many workers died running it (it fails as poison once the deaths reach
        ingest.max_job_attempts)."""
        assert job.id is not None
        # First the files forget their job: should this process die before the new jobs are queued,
        # the files are orphans that start-up queues again (accept.requeue_orphans), never lost.
        await self.app.connector.execute_query_async(
            "UPDATE ingestion_files SET job_id = NULL WHERE job_id = %(old)s", old=job.id
        )
        try:
            # Only one watcher wins this: for the others the job is no longer "doing".
            await self.app.job_manager.finish_job(job, status=procrastinate.jobs.Status.FAILED, delete_job=True)
        except procrastinate.exceptions.ConnectorException:
            return
        for task_name, kwargs in jobs:
            new_id: int = await self.app.configure_task(task_name, priority=job.priority).defer_async(**kwargs)
            await self.app.connector.execute_query_async(
                "UPDATE ingestion_files SET job_id = %(new)s WHERE id = %(file)s AND job_id IS NULL",
                new=new_id,
                file=str(kwargs["file_id"]),
            )

    async def watch_stalled(self, *, silent_for_s: float, every_s: float) -> None:
        """Retries stalled jobs for ever (every worker may run this: retrying is idempotent)."""
        while True:
            try:
                await self.retry_stalled(silent_for_s=silent_for_s)
            except Exception:
                _log.exception("could not check for stalled jobs")
            await asyncio.sleep(every_s)

    async def run_worker(
        self,
        ctx: WorkerContext,
        *,
        concurrency: int,
        wait: bool = True,
        name: str = "tomehub",
        heartbeat_s: float = 10.0,
        shutdown_grace_s: float | None = None,
    ) -> None:
        """Processes ingestion jobs until cancelled (or, with ``wait=False``, until the queue is empty)."""
        options: dict[str, Any] = {
            "queues": [QUEUE],
            "concurrency": concurrency,
            "wait": wait,
            "name": name,
            "additional_context": {_CONTEXT_KEY: ctx},
            "install_signal_handlers": False,
            # Successful jobs are deleted (the run tables are the user-facing record); failed ones
            # stay, with their attempts, for an operator to inspect and retry.
            "delete_jobs": "successful",
            "fetch_job_polling_interval": 2.0,
            "update_heartbeat_interval": heartbeat_s,
            # Cancelled, the worker waits this long for its running jobs, then aborts them (None: waits).
            "shutdown_graceful_timeout": shutdown_grace_s,
        }
        await self.app.run_worker_async(**options)
