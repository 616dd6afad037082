"""A database outage: 503 within a second (never a hang or a bare 500), and recovery on its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from tests.integration.conftest import make_settings
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.embedded import start_embedded


async def test_database_down_gives_503_fast_and_recovers_by_itself(tmp_path: Path) -> None:
    server = start_embedded(tmp_path / "pg")
    settings = make_settings(server.url, tmp_path / "data")
    app = create_app(settings, local_embedder=HashingEmbedder(dim=32))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
            h = {"Authorization": f"Bearer {_token(settings)}"}
            await client.post("/api/add-item", headers=h, json={"text": "Glaciers carve valleys slowly."})
            assert (await client.post("/api/smart-search", headers=h, json={"query": "glaciers"})).status_code == 200

            server.stop()  # the database goes away
            for _ in range(5):
                started = time.perf_counter()
                resp = await client.post("/api/smart-search", headers=h, json={"query": "valleys"})
                elapsed = time.perf_counter() - started
                assert resp.status_code == 503, resp.text
                assert resp.json()["error"]["code"] == "database_unavailable"
                assert "retry-after" in resp.headers
                assert elapsed < 1.2, elapsed
            ready = await client.get("/api/health/ready")
            assert ready.status_code == 503
            assert (await client.get("/api/health")).status_code == 200  # alive, just not ready
            # A question answered before the outage is still answered: tier 3, from the cache.
            cached = await client.post("/api/smart-search", headers=h, json={"query": "glaciers"})
            assert cached.status_code == 200
            assert cached.headers["X-TomeHub-Tier"] == "3"
            assert cached.json()["stale"] is True

            server = start_embedded(tmp_path / "pg")  # it comes back
            deadline = time.monotonic() + 20
            attempt = 0
            while True:
                attempt += 1
                resp = await client.post("/api/smart-search", headers=h, json={"query": f"carved valleys {attempt}"})
                if resp.status_code == 200:
                    assert resp.headers["X-TomeHub-Tier"] == "1"
                    break
                assert resp.status_code == 503
                assert time.monotonic() < deadline, "did not recover"
                await asyncio.sleep(0.3)
            ready = await client.get("/api/health/ready")
            assert ready.status_code == 200, ready.text
    server.stop()


def _token(settings: object) -> str:
    from tomehub.auth.tokens import issue_local_token

    return issue_local_token(settings.auth, settings.local_signing_key_path, "outage")  # type: ignore[attr-defined]
