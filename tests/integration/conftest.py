"""Integration fixtures: a real embedded PostgreSQL (one per session, a fresh database per module),
the real app in-process, and tokens signed by the app's own local key."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from yoyo import get_backend, read_migrations

from tomehub.auth.tokens import issue_local_token
from tomehub.config import Settings
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.embedded import EmbeddedServer, start_embedded
from tomehub.store.migrate import MIGRATIONS_DIR, apply_migrations, yoyo_url

TEMPLATE_DB = "tomehub_template"


def url_for_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_migrated_before(server: EmbeddedServer, migration_id: str) -> str:
    """Returns the URL of a new database on ``server`` with every migration before ``migration_id``
    applied (a library as an older TomeHub left it, for a migration's test)."""
    name = "m_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = url_for_database(server.url, name)
    backend = get_backend(yoyo_url(url))
    older = read_migrations(str(MIGRATIONS_DIR)).filter(lambda m: m.id < migration_id)
    with backend.lock():
        backend.apply_migrations(backend.to_apply(older))
    backend.connection.close()
    return url


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def template_url(pg_server: EmbeddedServer) -> str:
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    url = url_for_database(pg_server.url, TEMPLATE_DB)
    apply_migrations(url)
    return url


def fresh_database(pg_server: EmbeddedServer) -> str:
    """Returns the URL of a new, migrated database cloned from the template."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    return url_for_database(pg_server.url, name)


@pytest.fixture(scope="module")
def database_url(pg_server: EmbeddedServer, template_url: str) -> str:
    return fresh_database(pg_server)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    # Rate limits are tested on their own (test_capacity); elsewhere tests poll and burst freely.
    base: dict[str, Any] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "rate_limits": {"enabled": False},
    }
    base.update(overrides)
    # Edge shedding reacts to this machine's CPU, which other tests share, and the standing-queue
    # bound to how fast a burst drains on it (a hundred requests at once behind 8 slots stand for
    # longer than 100 ms here): functional tests must not depend on either (each has its own
    # tests, and the stress suite runs them at their defaults).
    base["server"] = {"edge_max_loop_lag_ms": 0, "standing_queue_after_ms": 60_000, **base.get("server", {})}
    settings = Settings.model_validate(base)
    return settings.model_copy(update={"server": settings.server.model_copy(update={"demo_on_first_start": False})})


@dataclass
class TestApp:
    """The running app, an HTTP client for it, and helpers to act as a user."""

    __test__ = False

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    embedder: HashingEmbedder

    def headers(self, uid: str) -> dict[str, str]:
        token = issue_local_token(self.settings.auth, self.settings.local_signing_key_path, uid)
        return {"Authorization": f"Bearer {token}"}

    def new_user(self) -> tuple[str, dict[str, str]]:
        uid = "user-" + uuid.uuid4().hex[:10]
        return uid, self.headers(uid)

    async def upload(self, headers: dict[str, str], filename: str, data: bytes, **fields: str) -> httpx.Response:
        return await self.client.post("/api/ingest", headers=headers, files={"file": (filename, data)}, data=fields)

    async def wait_run(self, headers: dict[str, str], run_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        """Polls a run until it has finished and its chunks are embedded; returns its last status."""
        deadline = time.monotonic() + timeout_s
        while True:
            resp = await self.client.get(f"/api/ingest/runs/{run_id}", headers=headers)
            assert resp.status_code == 200, resp.text
            run: dict[str, Any] = resp.json()
            if run["finished_at"] is not None and run["passages_pending_embedding"] == 0:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} did not finish: {run}")
            await asyncio.sleep(0.05)

    async def settle(self, timeout_s: float = 15.0) -> None:
        """Waits until every chunk in the database has its vector (add-item embeds in the background)."""
        deadline = time.monotonic() + timeout_s
        db = self.app.state.resources.db
        while True:
            async with db.read() as conn:
                row = await (
                    await conn.execute("SELECT count(*) AS n FROM chunk_passages WHERE embedding IS NULL")
                ).fetchone()
            if row is not None and row["n"] == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{row} passages still wait for their vectors")
            await asyncio.sleep(0.05)

    async def ingest(self, headers: dict[str, str], filename: str, data: bytes, **fields: str) -> dict[str, Any]:
        resp = await self.upload(headers, filename, data, **fields)
        assert resp.status_code == 202, resp.text
        run = await self.wait_run(headers, resp.json()["run_id"])
        return {**resp.json(), "run": run}


@contextlib.asynccontextmanager
async def serve_test_app(settings: Settings) -> AsyncIterator[TestApp]:
    """The app with these settings, started (its lifespan) and reached in-process over HTTP."""
    embedder = HashingEmbedder(dim=64)
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


def zip_of(entries: dict[str, bytes]) -> bytes:
    """A zip archive holding these files (name -> bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tapp(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    async with serve_test_app(make_settings(database_url, tmp_path_factory.mktemp("data"))) as app:
        yield app
