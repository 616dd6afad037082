"""SQL for ingestion runs and the files waiting in them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from tomehub.store.db import Connection


async def create_run(conn: Connection, *, user_id: int, label: str, files_total: int) -> UUID:
    row = await (
        await conn.execute(
            "INSERT INTO ingestion_runs (user_id, label, files_total) VALUES (%s, %s, %s) RETURNING id",
            (user_id, label, files_total),
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def set_run_batch(conn: Connection, *, run_id: UUID, batch: dict[str, Any] | None) -> None:
    """Marks a run as a batch waiting to be unpacked (its zip's SHA-256, item type and tags), or
    unpacked (None)."""
    await conn.execute(
        "UPDATE ingestion_runs SET batch = %s WHERE id = %s", (None if batch is None else Jsonb(batch), run_id)
    )


async def get_run_batch(conn: Connection, *, run_id: UUID) -> dict[str, Any] | None:
    """Returns a run's user, label and pending batch (None: no such run)."""
    cur = await conn.execute("SELECT user_id, label, batch FROM ingestion_runs WHERE id = %s", (run_id,))
    return await cur.fetchone()


async def recorded_files(conn: Connection, *, run_id: UUID) -> list[str]:
    """Returns the names of the files a run has recorded so far (a resumed unpack skips them)."""
    cur = await conn.execute("SELECT filename FROM ingestion_files WHERE run_id = %s", (run_id,))
    return [str(r["filename"]) for r in await cur.fetchall()]


async def count_recorded_files(conn: Connection, *, run_id: UUID) -> int:
    """Returns how many files a run has recorded so far."""
    cur = await conn.execute("SELECT count(*) AS n FROM ingestion_files WHERE run_id = %s", (run_id,))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def add_file(
    conn: Connection,
    *,
    run_id: UUID,
    user_id: int,
    item_id: UUID,
    filename: str,
    size_bytes: int,
    sha256: str,
) -> UUID:
    """Records a queued file; its bytes are the kept original with this SHA-256 (store/originals.py)."""
    row = await (
        await conn.execute(
            """INSERT INTO ingestion_files (run_id, user_id, item_id, filename, size_bytes, sha256)
               VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
            (run_id, user_id, item_id, filename, size_bytes, sha256),
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def add_files(
    conn: Connection, *, run_id: UUID, user_id: int, files: list[tuple[UUID, str, int, str]]
) -> list[UUID]:
    """Records queued files (item id, filename, size, sha256) of a run; returns their ids in order."""
    cur = await conn.execute(
        """INSERT INTO ingestion_files (run_id, user_id, item_id, filename, size_bytes, sha256)
           SELECT %s, %s, f.item_id, f.filename, f.size_bytes, f.sha256
           FROM unnest(%s::uuid[], %s::text[], %s::bigint[], %s::text[]) AS f(item_id, filename, size_bytes, sha256)
           RETURNING id, item_id, filename""",
        (run_id, user_id, [f[0] for f in files], [f[1] for f in files], [f[2] for f in files], [f[3] for f in files]),
    )
    # Matched by (item, name), not by the order rows come back in (which SQL does not promise);
    # two entries alike in both are interchangeable.
    ids: dict[tuple[UUID, str], list[UUID]] = {}
    for r in await cur.fetchall():
        ids.setdefault((UUID(str(r["item_id"])), str(r["filename"])), []).append(UUID(str(r["id"])))
    return [ids[(f[0], f[1])].pop() for f in files]


async def set_files_total(conn: Connection, *, run_id: UUID, files_total: int) -> None:
    """Shrinks a run to the files recorded before its batch was interrupted (finishing it when
    those are all finished already)."""
    await conn.execute(
        """
        WITH cancelled AS (
            SELECT count(*) AS n FROM ingestion_files WHERE run_id = %(run_id)s AND status = 'cancelled'
        )
        UPDATE ingestion_runs r
           SET files_total = %(total)s,
               status = CASE
                   WHEN r.files_done + r.files_failed + c.n < %(total)s THEN r.status
                   WHEN r.files_failed = 0 THEN 'succeeded'
                   WHEN r.files_done = 0 THEN 'failed'
                   ELSE 'completed_with_errors' END,
               finished_at = CASE WHEN r.files_done + r.files_failed + c.n >= %(total)s THEN now() END
          FROM cancelled c
         WHERE r.id = %(run_id)s
        """,
        {"run_id": run_id, "total": files_total},
    )


async def add_failed_file(
    conn: Connection, *, run_id: UUID, user_id: int, item_id: UUID, filename: str, code: str, message: str
) -> None:
    """Records a file refused before it was queued (e.g. unsupported type in a folder)."""
    await conn.execute(
        """INSERT INTO ingestion_files (run_id, user_id, item_id, filename, size_bytes, sha256, status,
                                        error_code, error, finished_at)
           VALUES (%s, %s, %s, %s, 0, '', 'failed', %s, %s, now())""",
        (run_id, user_id, item_id, filename, code, message),
    )
    await finish_file_in_run(conn, run_id=run_id, ok=False, error={"file": filename, "code": code, "message": message})


async def claim_file(conn: Connection, *, file_id: UUID) -> dict[str, Any] | None:
    """Returns the queued file (locked for this transaction), or None if it is finished already."""
    cur = await conn.execute(
        """SELECT f.id, f.run_id, f.user_id, f.item_id, f.filename, f.data, f.sha256, f.size_bytes,
                  f.embedding_attempts
           FROM ingestion_files f WHERE f.id = %s AND f.status = 'queued' FOR UPDATE""",
        (file_id,),
    )
    return await cur.fetchone()


async def claim_files(conn: Connection, *, file_ids: list[UUID]) -> list[dict[str, Any]]:
    """Returns those of the files still queued (locked for this transaction), in id order: the order
    set_job_ids locks them in, so a group's job starting before its files name it cannot deadlock."""
    cur = await conn.execute(
        """SELECT f.id, f.run_id, f.user_id, f.item_id, f.filename, f.data, f.sha256, f.size_bytes,
                  f.embedding_attempts
           FROM ingestion_files f WHERE f.id = ANY(%s) AND f.status = 'queued' ORDER BY f.id FOR UPDATE""",
        (file_ids,),
    )
    return await cur.fetchall()


async def mark_run_started(conn: Connection, *, run_id: UUID) -> None:
    await conn.execute(
        """UPDATE ingestion_runs SET status = 'running', started_at = coalesce(started_at, now())
           WHERE id = %s AND status = 'queued'""",
        (run_id,),
    )


async def add_run_counts(
    conn: Connection,
    *,
    run_id: UUID,
    written: int = 0,
    reused: int = 0,
    embedded: int = 0,
    file_id: UUID | None = None,
) -> None:
    await conn.execute(
        """UPDATE ingestion_runs
              SET chunks_written = chunks_written + %s, passages_reused = passages_reused + %s,
                  passages_embedded = passages_embedded + %s
            WHERE id = %s""",
        (written, reused, embedded, run_id),
    )
    if file_id is not None and embedded:
        await add_file_embedded(conn, file_id=file_id, embedded=embedded)


async def add_file_embedded(conn: Connection, *, file_id: UUID, embedded: int) -> None:
    """Counts passages a file embedded itself (the rest of its item's passages were reused)."""
    await conn.execute(
        "UPDATE ingestion_files SET passages_embedded = passages_embedded + %s WHERE id = %s", (embedded, file_id)
    )


async def add_files_embedded(conn: Connection, *, embedded: dict[UUID, int]) -> None:
    """Counts passages each file embedded itself (file id -> how many), in one statement."""
    if not embedded:
        return
    await conn.execute(
        """UPDATE ingestion_files f SET passages_embedded = f.passages_embedded + e.n
             FROM unnest(%s::uuid[], %s::int[]) AS e(id, n) WHERE f.id = e.id""",
        (list(embedded), list(embedded.values())),
    )


async def finish_files_done(conn: Connection, *, run_id: UUID, file_ids: list[UUID]) -> None:
    """Finishes files of one run whose items are indexed and embedded, as ``count_reused_passages`` and
    ``finish_file`` do one, in a few statements: their reused passages and themselves are counted in
    the run (the run finishes with its last file). Files no longer queued are left as they are."""
    cur = await conn.execute(
        "SELECT id FROM ingestion_files WHERE id = ANY(%s) AND status = 'queued' ORDER BY id FOR UPDATE", (file_ids,)
    )  # locked in claim_files' order, without reading the bytes again
    files = [row["id"] for row in await cur.fetchall()]
    if not files:
        return
    await conn.execute(
        """
        UPDATE ingestion_runs r
           SET passages_reused = r.passages_reused + (
               SELECT coalesce(sum(greatest(0, (SELECT count(*) FROM chunk_passages p JOIN content_chunks c
                                                  ON c.id = p.chunk_id WHERE c.item_id = f.item_id)
                                           - f.passages_embedded)), 0)
               FROM ingestion_files f WHERE f.id = ANY(%(files)s))
         WHERE r.id = %(run)s
        """,
        {"files": files, "run": run_id},
    )
    await conn.execute(
        """UPDATE ingestion_files SET status = 'done', error_code = NULL, error = NULL, finished_at = now(), data = NULL
            WHERE id = ANY(%s)""",
        (files,),
    )
    await finish_file_in_run(conn, run_id=run_id, ok=True, error=None, count=len(files))


async def count_reused_passages(conn: Connection, *, file_id: UUID, run_id: UUID, item_id: UUID) -> None:
    """Adds to the run the item's passages this file did not embed itself."""
    await conn.execute(
        """
        UPDATE ingestion_runs r
           SET passages_reused = r.passages_reused + greatest(0,
               (SELECT count(*) FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id
                 WHERE c.item_id = %(item)s)
               - (SELECT f.passages_embedded FROM ingestion_files f WHERE f.id = %(file)s))
         WHERE r.id = %(run)s
        """,
        {"item": item_id, "file": file_id, "run": run_id},
    )


async def finish_file(
    conn: Connection, *, file_id: UUID, run_id: UUID, filename: str, error_code: str | None, error: str | None
) -> None:
    """Marks a file done (its bytes dropped) or failed (its bytes kept for a retry) and counts it in its run."""
    ok = error_code is None
    await conn.execute(
        """UPDATE ingestion_files
              SET status = %s, error_code = %s, error = %s, finished_at = now(),
                  data = CASE WHEN %s THEN NULL ELSE data END
            WHERE id = %s""",
        ("done" if ok else "failed", error_code, error, ok, file_id),
    )
    err = None if ok else {"file": filename, "code": error_code, "message": error}
    await finish_file_in_run(conn, run_id=run_id, ok=ok, error=err)


async def finish_file_in_run(
    conn: Connection, *, run_id: UUID, ok: bool, error: dict[str, Any] | None, skipped: bool = False, count: int = 1
) -> None:
    """Counts ``count`` finished files in their run (``skipped``: cancelled files, already marked so)
    and finishes the run when they were the last ones."""
    # The run's row is locked first so the statement below, taken after the lock, sees every file
    # cancelled before it (they are counted from the files, not kept on the run). NO KEY UPDATE, as
    # the update takes: FOR UPDATE also blocked the key-share lock of every file a batch's unpacking
    # records meanwhile (the foreign key to the run) until the finishing transaction committed.
    await conn.execute("SELECT 1 FROM ingestion_runs WHERE id = %s FOR NO KEY UPDATE", (run_id,))
    done = count if ok and not skipped else 0
    failed = 0 if ok or skipped else count
    await conn.execute(
        """
        WITH cancelled AS (
            SELECT count(*) AS n FROM ingestion_files WHERE run_id = %(run_id)s AND status = 'cancelled'
        )
        UPDATE ingestion_runs r
           SET files_done = r.files_done + %(done)s,
               files_failed = r.files_failed + %(failed)s,
               errors = CASE WHEN %(error)s::jsonb IS NULL THEN r.errors ELSE r.errors || %(error)s::jsonb END,
               status = CASE
                   WHEN r.files_done + r.files_failed + %(done)s + %(failed)s + c.n < r.files_total THEN 'running'
                   WHEN r.files_failed + %(failed)s = 0 THEN 'succeeded'
                   WHEN r.files_done + %(done)s = 0 THEN 'failed'
                   ELSE 'completed_with_errors' END,
               started_at = coalesce(r.started_at, now()),
               finished_at = CASE WHEN r.files_done + r.files_failed + %(done)s + %(failed)s + c.n >= r.files_total
                                  THEN now() END
          FROM cancelled c
         WHERE r.id = %(run_id)s
        """,
        {
            "done": done,
            "failed": failed,
            "error": None if error is None else Jsonb([error]),
            "run_id": run_id,
        },
    )


async def set_file_pages(conn: Connection, *, file_id: UUID, done: int, total: int) -> None:
    """Records how many of a file's scanned pages OCR has read (the run's page progress); a retried
    parse starts again from its own first report."""
    await conn.execute(
        "UPDATE ingestion_files SET pages_done = %s, pages_total = %s WHERE id = %s", (done, total, file_id)
    )


async def cancel_file(conn: Connection, *, file_id: UUID, run_id: UUID, reason: str) -> None:
    """Marks a file cancelled because its item was deleted (its bytes dropped, no error) and counts
    it in its run as skipped."""
    await conn.execute(
        """UPDATE ingestion_files
              SET status = 'cancelled', error_code = 'item_deleted', error = %s, finished_at = now(), data = NULL
            WHERE id = %s""",
        (reason, file_id),
    )
    await finish_file_in_run(conn, run_id=run_id, ok=True, error=None, skipped=True)


_RUN_COLUMNS = """
    r.id, r.label, r.status, r.files_total, r.files_done, r.files_failed, r.chunks_written,
    r.passages_reused, r.passages_embedded, r.errors, r.created_at, r.started_at, r.finished_at,
    r.embedding_error, r.embedding_retry_at, r.highlights_added, r.highlights_skipped,
    ARRAY(SELECT DISTINCT f.item_id FROM ingestion_files f WHERE f.run_id = r.id) AS item_ids,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('file', f.filename, 'code', f.error_code, 'message', f.error)
                               ORDER BY f.finished_at, f.id), '[]'::jsonb)
       FROM ingestion_files f WHERE f.run_id = r.id AND f.status = 'cancelled') AS skipped,
    (SELECT count(*) FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id
      WHERE c.item_id IN (SELECT f.item_id FROM ingestion_files f WHERE f.run_id = r.id)
        AND p.embedding IS NULL) AS passages_pending_embedding,
    (SELECT coalesce(sum(f.pages_done), 0) FROM ingestion_files f WHERE f.run_id = r.id) AS pages_done,
    (SELECT coalesce(sum(f.pages_total), 0) FROM ingestion_files f WHERE f.run_id = r.id) AS pages_total
"""


async def get_run(conn: Connection, *, user_id: int, run_id: UUID) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM ingestion_runs r WHERE r.id = %s AND r.user_id = %s",
        (run_id, user_id),
    )
    return await cur.fetchone()


async def list_runs(conn: Connection, *, user_id: int | None, item_id: UUID | None, limit: int) -> list[dict[str, Any]]:
    """Returns runs newest first: the user's (every user's when ``user_id`` is None), only those
    with a file of ``item_id`` when it is given."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if user_id is not None:
        where.append("r.user_id = %(user_id)s")
        params["user_id"] = user_id
    if item_id is not None:
        where.append("EXISTS (SELECT 1 FROM ingestion_files f WHERE f.run_id = r.id AND f.item_id = %(item_id)s)")
        params["item_id"] = item_id
    cur = await conn.execute(
        f"""
        SELECT {_RUN_COLUMNS} FROM ingestion_runs r
        {"WHERE " + " AND ".join(where) if where else ""}
        ORDER BY r.created_at DESC, r.id DESC
        LIMIT %(limit)s
        """,
        params,
    )
    return await cur.fetchall()


async def unqueued_files(conn: Connection, *, older_than_s: float) -> list[UUID]:
    """Returns queued files whose job was never recorded (the process died between commit and enqueue)."""
    cur = await conn.execute(
        """SELECT id FROM ingestion_files
           WHERE status = 'queued' AND job_id IS NULL AND created_at < now() - make_interval(secs => %s)""",
        (older_than_s,),
    )
    return [UUID(str(r["id"])) for r in await cur.fetchall()]


async def set_job_id(conn: Connection, *, file_id: UUID, job_id: int) -> None:
    await conn.execute("UPDATE ingestion_files SET job_id = %s WHERE id = %s", (job_id, file_id))


async def set_job_ids(conn: Connection, *, file_ids: list[UUID], job_id: int) -> None:
    """Records the one job that processes several files."""
    # Rows locked in id order, as claim_files locks them (the job may already be running).
    await conn.execute(
        """UPDATE ingestion_files f SET job_id = %s
             FROM (SELECT id FROM ingestion_files WHERE id = ANY(%s) ORDER BY id FOR UPDATE) s
            WHERE f.id = s.id""",
        (job_id, file_ids),
    )


async def queued_files(conn: Connection, *, user_id: int, excluding: list[UUID]) -> int:
    """Returns how many of the user's files wait in the queue (their place in line, for fairness)."""
    row = await (
        await conn.execute(
            "SELECT count(*) AS n FROM ingestion_files WHERE user_id = %s AND status = 'queued' AND NOT (id = ANY(%s))",
            (user_id, excluding),
        )
    ).fetchone()
    return int(row["n"]) if row else 0


async def note_embedding_failure(conn: Connection, *, file_id: UUID) -> tuple[int, float]:
    """Counts a failed embedding attempt of a file; returns its attempts so far and the seconds
    since its first failure."""
    row = await (
        await conn.execute(
            """UPDATE ingestion_files
                  SET embedding_attempts = embedding_attempts + 1,
                      embedding_failing_since = coalesce(embedding_failing_since, now())
                WHERE id = %s
            RETURNING embedding_attempts,
                      extract(epoch FROM now() - embedding_failing_since)::float8 AS failing_s""",
            (file_id,),
        )
    ).fetchone()
    assert row is not None
    return int(row["embedding_attempts"]), float(row["failing_s"])


async def set_embedding_retry(conn: Connection, *, run_id: UUID, error: str | None, retry_at_s: float | None) -> None:
    """Shows on a run why its embeddings wait and when they are tried again (None, None: clears it)."""
    await conn.execute(
        """UPDATE ingestion_runs
              SET embedding_error = %s,
                  embedding_retry_at = CASE WHEN %s::float8 IS NULL THEN NULL
                                            ELSE now() + make_interval(secs => %s::float8) END
            WHERE id = %s""",
        (error, retry_at_s, retry_at_s, run_id),
    )
