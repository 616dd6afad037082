"""Two TomeHub worker processes share breaker state through Redis: a breaker opened by failures seen
in one process refuses calls in the other at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.servers import free_port, serve_in_thread
from tomehub.auth.tokens import issue_local_token
from tomehub.config import AuthSettings
from tomehub.llm.fake.server import FakeProvider, FaultUpdate, create_fake_app

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def clean_redis() -> Iterator[None]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


def start_worker(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tomehub", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker did not start: {log.read_text()[-2000:]}")


def test_a_breaker_opened_in_one_worker_is_open_in_the_other(
    database_url: str, tmp_path: Path, clean_redis: None
) -> None:
    fake = FakeProvider(seed=1, embedding_dim=64)
    with serve_in_thread(create_fake_app(fake)) as fake_url:
        env = {
            **os.environ,
            "TOMEHUB_DATA_DIR": str(tmp_path),
            "TOMEHUB_DATABASE_URL": database_url,
            "TOMEHUB_REDIS_URL": REDIS_URL,
            "TOMEHUB_LLM_BASE_URL": f"{fake_url}/v1",
            "TOMEHUB_LLM__EMBEDDING_MODEL": "fake-embedding",
            "TOMEHUB_LLM__EMBEDDING_DIM": "64",
            "TOMEHUB_LLM__BREAKER__MIN_CALLS": "4",
            "TOMEHUB_LLM__BREAKER__OPEN_S": "60",
            "TOMEHUB_SEARCH__EXPAND_QUERIES": "false",
            "TOMEHUB_SERVER__DEMO_ON_FIRST_START": "false",
            "TOMEHUB_LOG_LEVEL": "WARNING",
        }
        ports = [free_port(), free_port()]
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [start_worker(p, env, log) for p, log in zip(ports, logs, strict=True)]
        try:
            urls = [f"http://127.0.0.1:{p}" for p in ports]
            for url, proc, log in zip(urls, procs, logs, strict=True):
                wait_healthy(url, proc, log)
            token = issue_local_token(AuthSettings(), tmp_path / "auth" / "local-signing-key.pem", "shared-user")
            h = {"Authorization": f"Bearer {token}"}
            a, b = (httpx.Client(base_url=u, headers=h, timeout=10) for u in urls)
            assert a.post("/api/add-item", json={"text": "Storm warnings reached the lighthouse."}).status_code == 201
            first = b.post("/api/smart-search", json={"query": "storm"})
            assert first.headers.get("X-TomeHub-Tier") == "1", (
                first.status_code,
                first.text,
                logs[1].read_text()[-3000:],
            )

            fake.update(FaultUpdate(operations={"search-embedding": {"error_rate": 1.0}}))
            for n in range(6):
                a.post("/api/smart-search", json={"query": f"lighthouse {n}"})
            seen_by_b = {x["operation"]: x for x in b.get("/api/health/circuit-breakers").json()["breakers"]}
            assert seen_by_b["search-embedding"]["state"] == "open"
            assert b.get("/api/health/circuit-breakers").json()["shared"] is True
            calls = fake.counters.calls["embeddings:search-embedding"]
            resp = b.post("/api/smart-search", json={"query": "a question only b was asked"})
            assert resp.headers.get("X-TomeHub-Tier") == "2", (resp.status_code, resp.text, logs[1].read_text()[-3000:])
            assert fake.counters.calls["embeddings:search-embedding"] == calls  # b never called the provider
            assert 'tomehub_breaker_state{operation="search-embedding"} 2.0' in b.get("/metrics").text
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
