"""Re-embedding: after a change of embedding model, the chunks without a current vector are found
and queued per user, and embedded in the background (found by keyword meanwhile)."""

from __future__ import annotations

import logging

from tomehub.ingest.service import IngestQueue
from tomehub.library import repo as library_repo
from tomehub.llm.base import Embedder
from tomehub.store.db import Database

_log = logging.getLogger(__name__)


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
