"""A worker killed with SIGKILL mid-job loses nothing and duplicates nothing: another worker takes
the job up again once the dead one stops beating, and the run ends exactly as if nothing happened."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from tests.integration.conftest import make_settings
from tests.support.servers import serve_in_thread
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, Faults, create_fake_app
from tomehub.main import create_app

TEXT = "\n\n".join(
    f"Paragraph {n}. The river carried silt to the delta, and farmers read the floods like a calendar; "
    f"season {n} brought its own sediment, its own crops and its own stories of the water." * 3
    for n in range(40)
)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tomehub", "worker"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def test_sigkill_mid_job_loses_and_duplicates_nothing(database_url: str, tmp_path: Path) -> None:
    slow = Faults(latency_p50_ms=300, latency_p95_ms=300)
    fake = FakeProvider(seed=3, embedding_dim=32, faults={"embeddings": slow})
    with serve_in_thread(create_fake_app(fake)) as fake_url:
        llm = {"embedding_model": "fake-embedding", "embedding_dim": 32, "chat_model": "fake-chat"}
        settings = make_settings(
            database_url,
            tmp_path,
            llm_base_url=f"{fake_url}/v1",
            llm=llm,
            ingest={"run_in_api_workers": False},
            search={"expand_queries": False},
        )
        env = {
            **os.environ,
            "TOMEHUB_DATA_DIR": str(tmp_path),
            "TOMEHUB_DATABASE_URL": database_url,
            "TOMEHUB_LLM_BASE_URL": f"{fake_url}/v1",
            "TOMEHUB_LLM__EMBEDDING_MODEL": "fake-embedding",
            "TOMEHUB_LLM__EMBEDDING_DIM": "32",
            "TOMEHUB_EMBEDDING__BATCH_SIZE": "2",
            "TOMEHUB_INGEST__HEARTBEAT_S": "1",
            "TOMEHUB_INGEST__STALLED_AFTER_S": "3",
            "TOMEHUB_LOG_LEVEL": "WARNING",
        }
        app = create_app(settings, local_embedder=HashingEmbedder(dim=32))
        log = tmp_path / "workers.log"
        first = start_worker(env, log)
        second: subprocess.Popen[bytes] | None = None
        try:
            async with LifespanManager(app, startup_timeout=60) as manager:
                token = issue_local_token(settings.auth, settings.local_signing_key_path, "killer")
                h = {"Authorization": f"Bearer {token}"}
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
                    accepted = (
                        await client.post("/api/ingest", headers=h, files={"file": ("delta.txt", TEXT.encode())})
                    ).json()
                    run_url = f"/api/ingest/runs/{accepted['run_id']}"
                    deadline = time.monotonic() + 60
                    while (await client.get(run_url, headers=h)).json()["passages_embedded"] < 4:
                        assert time.monotonic() < deadline, log.read_text()[-2000:]
                        await asyncio.sleep(0.1)
                    first.send_signal(signal.SIGKILL)  # mid-job: chunks written, embedding half done
                    first.wait(timeout=10)
                    killed_at = (await client.get(run_url, headers=h)).json()
                    assert killed_at["finished_at"] is None
                    assert killed_at["passages_pending_embedding"] > 0

                    second = start_worker(env, log)
                    deadline = time.monotonic() + 90
                    while True:
                        run = (await client.get(run_url, headers=h)).json()
                        if run["finished_at"] and run["passages_pending_embedding"] == 0:
                            break
                        assert time.monotonic() < deadline, (run, log.read_text()[-3000:])
                        await asyncio.sleep(0.2)
                db = app.state.resources.db
                async with db.read() as conn:
                    counts = await (
                        await conn.execute(
                            """SELECT (SELECT count(*) FROM content_chunks WHERE item_id = %(item)s) AS chunks,
                                      (SELECT count(DISTINCT chunk_index) FROM content_chunks WHERE item_id = %(item)s) AS indexes,
                                      (SELECT count(*) FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id
                                        WHERE c.item_id = %(item)s) AS passages,
                                      (SELECT count(*) FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id
                                        WHERE c.item_id = %(item)s AND p.embedding IS NULL) AS missing,
                                      (SELECT s.chunk_count FROM library_stats s JOIN library_items i ON i.user_id = s.user_id
                                        WHERE i.id = %(item)s) AS stats_chunks,
                                      (SELECT chunk_count FROM library_items WHERE id = %(item)s) AS item_chunks""",
                            {"item": accepted["item_id"]},
                        )
                    ).fetchone()
        finally:
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)
    assert run["status"] == "succeeded"
    assert run["files_done"] == 1 and run["files_failed"] == 0
    assert counts["chunks"] == counts["indexes"] == counts["stats_chunks"] == counts["item_chunks"]  # no duplicate
    assert counts["missing"] == 0
    assert run["chunks_written"] == counts["chunks"]
    # Every passage embedded once: those before the kill and those after add up, nothing twice.
    assert run["passages_embedded"] + run["passages_reused"] == counts["passages"]
