"""A read replica for search statements: searches use its pool, and while it is unreachable they
read the primary (readiness says so) instead of failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from tests.integration.conftest import make_settings
from tomehub.auth.tokens import issue_local_token
from tomehub.config import Settings
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.db import Database

# Nothing listens on port 1: connecting is refused at once, like a replica that is down.
DEAD_REPLICA = "postgresql://tomehub@127.0.0.1:1/tomehub"


async def _client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    app = create_app(settings, local_embedder=HashingEmbedder(dim=32))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
            token = issue_local_token(settings.auth, settings.local_signing_key_path, "replica-user")
            client.headers["Authorization"] = f"Bearer {token}"
            yield client, app.state.resources.db


def _with_replica(database_url: str, data_dir: Path, replica_url: str) -> Settings:
    return make_settings(database_url, data_dir, database={"search_replica_url": replica_url})


async def test_searches_run_on_the_replica_pool(database_url: str, tmp_path: Path) -> None:
    # The primary stands in for its replica (same data, another pool and connection string).
    settings = _with_replica(database_url, tmp_path, replica_url=database_url)
    async for client, db in _client(settings):
        assert db.search_pool is not None
        resp = await client.post("/api/add-item", json={"text": "Harbour seals sleep on the sandbanks."})
        assert resp.status_code == 201, resp.text
        before = db.search_pool.get_stats().get("requests_num", 0)
        read_before = db.read_pool.get_stats().get("requests_num", 0)
        resp = await client.post("/api/smart-search", json={"query": "seals sandbanks"})
        assert resp.status_code == 200, resp.text
        assert [h["text"] for h in resp.json()["hits"]] == ["Harbour seals sleep on the sandbanks."]
        # The search statement went to the replica's pool; the primary's read pool served at most
        # the user lookup (cached after the first request).
        assert db.search_pool.get_stats().get("requests_num", 0) > before
        assert db.read_pool.get_stats().get("requests_num", 0) - read_before <= 1
        ready = (await client.get("/api/health/ready")).json()
        assert ready["checks"]["search_replica"] == "ok"


async def test_an_unreachable_replica_sends_searches_to_the_primary(database_url: str, tmp_path: Path) -> None:
    settings = _with_replica(database_url, tmp_path, replica_url=DEAD_REPLICA)
    async for client, db in _client(settings):  # start-up does not wait for the replica
        resp = await client.post("/api/add-item", json={"text": "Puffins nest in burrows on the cliffs."})
        assert resp.status_code == 201, resp.text
        for query in ("puffins", "burrows cliffs", "nest"):
            resp = await client.post("/api/smart-search", json={"query": query})
            assert resp.status_code == 200, resp.text
            assert resp.json()["hits"], query
        # After the first failures the replica's breaker answers at once; the primary's stays closed.
        assert (await db.replica_breaker.status()).state.value != "closed"
        assert (await db.breaker.status()).state.value == "closed"
        ready = await client.get("/api/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["search_replica"].startswith("unavailable")
