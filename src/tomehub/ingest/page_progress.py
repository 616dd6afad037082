"""A file's OCR page progress, recorded as its parse goes on (RunOut.pages_done / pages_total).

The sandbox reports pages from the thread that waits for the parse (asyncio.to_thread); the database is
reached through the event loop. Each report waits for its write (briefly): reports then land in order,
and a failed one is logged by the sandbox instead of vanishing with a forgotten future.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from tomehub.ingest import repo
from tomehub.ingest.sandbox import PageProgress
from tomehub.store.db import Database

# A report that cannot be written in this time is given up (the parse goes on; the next report may land).
_WRITE_TIMEOUT_S = 5.0


def page_recorder(db: Database, file_id: UUID, loop: asyncio.AbstractEventLoop) -> PageProgress:
    """Returns the on_pages callback for parse_sandboxed that records ``file_id``'s pages. Call it on
    the event loop (``loop`` is the running one); the callback runs in the parsing thread."""

    async def record(done: int, total: int) -> None:
        async with db.write() as conn:
            await repo.set_file_pages(conn, file_id=file_id, done=done, total=total)

    def on_pages(done: int, total: int) -> None:
        future = asyncio.run_coroutine_threadsafe(record(done, total), loop)
        try:
            future.result(timeout=_WRITE_TIMEOUT_S)
        except TimeoutError:
            future.cancel()
            raise

    return on_pages
