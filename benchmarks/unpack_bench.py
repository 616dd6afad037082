"""CPU of a batch zip's unpacking, part by part (run by hand, never in CI).

    .venv/bin/python benchmarks/unpack_bench.py                 # 20,000 small files, the zip kept open
    .venv/bin/python benchmarks/unpack_bench.py --reopen        # each part opens the zip again

A fresh embedded PostgreSQL and the app in this process (no worker: nothing is processed); one zip of
``--files`` small Markdown files is uploaded to ``POST /api/ingest/batch``, then ``accept.unpack_batch``
is called until the run's batch is cleared, as the worker's ``unpack_batch`` jobs would run it, and
this process's CPU time (``time.process_time``: the app's event loop and its threads; PostgreSQL's own
CPU is not counted) is taken around each part. ``--reopen`` keeps no zip open between parts
(``OpenBatches(size=0)``), as before stop 33, where every part read the zip's central directory again.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from uuid import UUID

import httpx
from asgi_lifespan import LifespanManager

from tomehub.auth.tokens import issue_local_token
from tomehub.config import Settings
from tomehub.ingest import accept
from tomehub.ingest.archive import OpenBatches
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.embedded import start_embedded


def _zip(files: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(files):
            archive.writestr(f"notes/part-{i // 500}/note-{i}.md", f"# Note {i}\n\nAbout harbour number {i}.")
    return out.getvalue()


async def _parts(args: argparse.Namespace, workdir: Path) -> list[float]:
    server = start_embedded(workdir / "pg")
    settings = Settings.model_validate(
        {
            "data_dir": workdir / "data",
            "database_url": server.url,
            "redis_url": None,
            "rate_limits": {"enabled": False},
            "ingest": {"run_in_api_workers": False},
            "server": {"demo_on_first_start": False},
        }
    )
    if args.reopen:
        accept._OPEN_BATCHES = OpenBatches(size=0)
    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    seconds: list[float] = []
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.bench", timeout=600) as client:
            token = issue_local_token(settings.auth, settings.local_signing_key_path, "bench-unpack")
            resp = await client.post(
                "/api/ingest/batch",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("batch.zip", _zip(args.files))},
            )
            assert resp.status_code == 202, resp.text
            run_id = UUID(resp.json()["run_id"])
            runtime = app.state.runtime
            while True:
                started = time.process_time()
                await accept.unpack_batch(
                    db=runtime.db, queue=runtime.queue, settings=settings, originals=runtime.originals, run_id=run_id
                )
                seconds.append(time.process_time() - started)
                async with runtime.db.read() as conn:
                    cur = await conn.execute("SELECT batch FROM ingestion_runs WHERE id = %s", (run_id,))
                    row = await cur.fetchone()
                if row is None or row["batch"] is None:
                    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000, help="small files in the zip")
    parser.add_argument("--reopen", action="store_true", help="open the zip again for every part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tomehub-unpack-bench-") as workdir:
        seconds = asyncio.run(_parts(args, Path(workdir)))
    ms = [s * 1000 for s in seconds]
    last_full = ms[-2] if len(ms) > 1 else ms[0]
    print(
        f"{args.files:,} files, {'each part opens the zip' if args.reopen else 'the zip kept open'}: "
        f"{len(ms)} parts, {sum(seconds):.1f} CPU-s in all ({sum(ms) / args.files:.2f} ms a file); "
        f"a part p50 {statistics.median(ms):.0f} ms, first {ms[0]:.0f} ms, last full part {last_full:.0f} ms"
    )


if __name__ == "__main__":
    main()
