"""Parsers in a sandbox, end to end: a file that crashes, hangs or exhausts its parser fails in its run
with a code and a clear message while the worker goes on; a file that kills its worker every time is
failed as a poison file after ingest.max_job_attempts deaths instead of crash-looping the workers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, fresh_database, make_settings, zip_of
from tests.support import hostile_parsers
from tests.support.hostile_parsers import make_bomb_epub
from tomehub.auth.tokens import issue_local_token
from tomehub.ingest.sandbox import sandbox_for
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.embedded import EmbeddedServer

GOOD = b"# Estuaries\n\nWhere the river meets the sea, fresh and salt water mix in a wedge that moves with the tide."
REPO = Path(__file__).resolve().parents[2]


async def test_hostile_files_fail_alone_and_the_next_file_ingests(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest = tapp.settings.ingest
    monkeypatch.setattr(ingest, "parse_memory_limit_mb", 512)
    monkeypatch.setattr(ingest, "parse_timeout_s", 2.0)
    monkeypatch.setattr(ingest, "parser_plugins", [hostile_parsers.PLUGIN])
    _uid, h = tapp.new_user()
    expected = {
        "crash.segv": ("parser_crashed", "crash.segv could not be parsed: it crashed the parser (signal 11)."),
        "stuck.hang": ("parser_timeout", "stuck.hang could not be parsed: it timed out after 2 s"),
        "greedy.hog": ("parser_out_of_memory", "greedy.hog could not be parsed: it ran out of memory at 512 MB"),
        "bomb.epub": ("parser_out_of_memory", "bomb.epub could not be parsed: it ran out of memory at 512 MB"),
    }
    try:
        for name, (code, message) in expected.items():
            data = make_bomb_epub() if name == "bomb.epub" else b"hostile"
            done = await tapp.ingest(h, name, data)
            run = done["run"]
            assert run["status"] == "failed" and run["files_failed"] == 1, run
            assert [(e["file"], e["code"]) for e in run["errors"]] == [(name, code)]
            assert run["errors"][0]["message"].startswith(message)
            item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
            assert item["status"] == "failed" and item["status_detail"].startswith(message)
            # The worker is alive and the pool recovered: the next upload ingests.
            good = await tapp.ingest(h, f"after-{name}.md", GOOD + name.encode())
            assert good["run"]["status"] == "succeeded", good["run"]
            assert good["run"]["chunks_written"] >= 1
    finally:
        sandbox_for(ingest).close()


async def test_a_file_that_kills_its_worker_every_time_becomes_a_poison_file(
    pg_server: EmbeddedServer, template_url: str, tmp_path: Path
) -> None:
    # A database of its own: the module's in-process worker (tapp) must not take these jobs.
    database_url = fresh_database(pg_server)
    settings = make_settings(
        database_url, tmp_path, ingest={"run_in_api_workers": False}, search={"expand_queries": False}
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TOMEHUB_DATA_DIR": str(tmp_path),
        "TOMEHUB_DATABASE_URL": database_url,
        "TOMEHUB_INGEST__PARSER_PLUGINS": f'["{hostile_parsers.PLUGIN}"]',
        "TOMEHUB_INGEST__MAX_JOB_ATTEMPTS": "2",
        "TOMEHUB_INGEST__HEARTBEAT_S": "1",
        "TOMEHUB_INGEST__STALLED_AFTER_S": "3",
        "TOMEHUB_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tomehub", "worker"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )
        workers.append(proc)
        return proc

    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    try:
        async with LifespanManager(app, startup_timeout=60) as manager:
            h = {"Authorization": f"Bearer {issue_local_token(settings.auth, settings.local_signing_key_path, 'p')}"}
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
                # Two small files: one job for both (ingest/grouped.py). Its first death splits it
                # into a job per file, so the good one is indexed and the poison one fails alone.
                batch = zip_of({"a-poison.die": b"kills its worker", "b-good.md": GOOD})
                accepted = await client.post("/api/ingest/batch", headers=h, files={"file": ("mixed.zip", batch)})
                assert accepted.status_code == 202, accepted.text
                run_url = accepted.json()["status_url"]
                worker = start_worker()
                deadline = time.monotonic() + 120
                while True:
                    run: dict[str, Any] = (await client.get(run_url, headers=h)).json()
                    if run["finished_at"] is not None:
                        break
                    assert time.monotonic() < deadline, (run, log.read_text()[-3000:])
                    if worker.poll() is not None:  # killed by the poison file: another worker takes over
                        worker = start_worker()
                    await asyncio.sleep(0.2)
                # A later file ingests on the surviving worker.
                later = await client.post("/api/ingest", headers=h, files={"file": ("later.md", GOOD + b" Later.")})
                later_url = later.json()["status_url"]
                while (later_run := (await client.get(later_url, headers=h)).json())["finished_at"] is None:
                    assert time.monotonic() < deadline + 30, (later_run, log.read_text()[-3000:])
                    await asyncio.sleep(0.2)
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    died = sum(1 for proc in workers if proc.returncode == -9)
    assert died == 2, (run, log.read_text()[-3000:])  # max_job_attempts deaths, then no more
    assert run["files_total"] == 2 and run["files_done"] == 1 and run["files_failed"] == 1, (
        run,
        log.read_text()[-4000:],
    )
    assert [(e["file"], e["code"]) for e in run["errors"]] == [("a-poison.die", "poison_file")]
    assert run["errors"][0]["message"] == (
        "a-poison.die could not be processed: the worker died 2 times while processing this file "
        "(killed, crashed or out of memory); it is not retried again."
    )
    assert len(run["item_ids"]) == 2
    assert later_run["status"] == "succeeded", later_run
