"""What finishing a file costs in a large run: the count of the run's cancelled files.

    .venv/bin/python benchmarks/run_finish_count.py --files 1000 20000

Every file (or group of files) that finishes counts its run's cancelled files
(ingest/repo.py ``finish_file_in_run``). The benchmark builds a run of N finished files (0.1 %
cancelled) in an embedded PostgreSQL with every migration applied, times that count with the partial
index on cancelled files (migration 0020), then drops the index and times it again.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg

from tomehub.store.embedded import start_embedded
from tomehub.store.migrate import apply_migrations

COUNT = "SELECT count(*) FROM ingestion_files WHERE run_id = %s AND status = 'cancelled'"


def build_run(conn: psycopg.Connection, files: int) -> object:
    """A user, a run and ``files`` finished files of it, each with an item of its own; returns the run's id."""
    row = conn.execute("INSERT INTO users (uid) VALUES (%s) RETURNING id", (f"bench-{files}",)).fetchone()
    assert row is not None
    user = row[0]
    row = conn.execute(
        "INSERT INTO ingestion_runs (user_id, label, files_total) VALUES (%s, 'bench', %s) RETURNING id",
        (user, files),
    ).fetchone()
    assert row is not None
    run = row[0]
    conn.execute(
        """WITH items AS (INSERT INTO library_items (user_id, item_type, title)
                          SELECT %(u)s, 'ARTICLE', 'item ' || g FROM generate_series(1, %(n)s) g RETURNING id)
           INSERT INTO ingestion_files (run_id, user_id, item_id, filename, size_bytes, sha256, status)
           SELECT %(r)s, %(u)s, id, 'file', 1, 'sha',
                  CASE WHEN random() < 0.001 THEN 'cancelled' ELSE 'done' END FROM items""",
        {"u": user, "n": files, "r": run},
    )
    conn.execute("VACUUM ANALYZE ingestion_files")
    return run


def time_count(conn: psycopg.Connection, run: object, repeat: int) -> tuple[float, str]:
    """Milliseconds per count (after a warm-up) and the plan's scan line."""
    for _ in range(20):
        conn.execute(COUNT, (run,)).fetchone()
    started = time.perf_counter()
    for _ in range(repeat):
        conn.execute(COUNT, (run,)).fetchone()
    ms = (time.perf_counter() - started) / repeat * 1000
    plan = [str(r[0]).strip() for r in conn.execute("EXPLAIN " + COUNT, (run,)).fetchall()]
    scan = next((line for line in plan if "Scan" in line), plan[-1])
    return ms, scan.removeprefix("->").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 20000], help="files in the run")
    parser.add_argument("--repeat", type=int, default=200, help="counts timed per figure")
    args = parser.parse_args()
    print("| files in the run | index | ms a count | plan |")
    print("|---:|---|---:|---|")
    for files in args.files:
        with tempfile.TemporaryDirectory(prefix="tomehub-finish-") as tmp:
            server = start_embedded(Path(tmp) / "pg")
            try:
                apply_migrations(server.url)
                with psycopg.connect(server.url, autocommit=True) as conn:
                    run = build_run(conn, files)
                    for label in ("partial, on cancelled files", "run_id only"):
                        ms, scan = time_count(conn, run, args.repeat)
                        print(f"| {files:,} | {label} | {ms:.3f} | {scan} |")
                        conn.execute("DROP INDEX IF EXISTS ingestion_files_run_cancelled")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
