"""Changing the embedding model is a migration, never a silent mix: old vectors are never compared
with new queries, chunks stay findable by keyword, and re-embedding restores the dense list."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, make_settings
from tomehub.ingest import reembed
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.search.vector import drop_unused_indexes, index_name


@asynccontextmanager
async def running(database_url: str, data_dir: Path, embedder: HashingEmbedder) -> AsyncIterator[TestApp]:
    settings = make_settings(database_url, data_dir, ingest={"reembed_on_start": False})
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


async def test_a_new_model_never_meets_old_vectors_and_reembedding_restores_them(
    database_url: str, tmp_path: Path
) -> None:
    notes = ["Tides rise twice a day along the rocky coast.", "The lighthouse keeper trimmed the lamp."]
    old = HashingEmbedder(dim=64, model="hashed-bow", version="1")
    async with running(database_url, tmp_path, old) as tapp:
        _, h = tapp.new_user()
        for text in notes:
            await tapp.client.post("/api/add-item", headers=h, json={"text": text})
        await tapp.settle()
        assert all(x["dense_rank"] for x in (await _search(tapp, h, "tides coast"))["hits"])

    # A new model with another dimension: comparing its queries with the old vectors would fail.
    new = HashingEmbedder(dim=32, model="hashed-bow", version="2")
    async with running(database_url, tmp_path, new) as tapp:
        h = tapp.headers(_uid(h))
        body = await _search(tapp, h, "tides coast")
        assert body["tier"] == 1
        assert body["hits"], "still found by keyword"
        assert all(x["dense_rank"] is None for x in body["hits"])
        runtime = tapp.app.state.runtime
        stale = await reembed.stale_vectors(db=runtime.db, embedder=runtime.ingest_embedder)
        assert sum(stale.values()) >= 2
        worker = asyncio.create_task(runtime.queue.run_worker(runtime.worker_context, concurrency=1))
        try:
            await reembed.schedule_reembedding(db=runtime.db, queue=runtime.queue, embedder=runtime.ingest_embedder)
            deadline = time.monotonic() + 20
            while await reembed.stale_vectors(db=runtime.db, embedder=runtime.ingest_embedder):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        body = await _search(tapp, h, "tides coast")
        assert any(x["dense_rank"] for x in body["hits"])
        dropped = await drop_unused_indexes(runtime.db, keep_model="hashed-bow", keep_version="2")
        assert dropped == [index_name("hashed-bow", "1")]


def _uid(headers: dict[str, str]) -> str:
    import jwt

    return str(jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})["sub"])


async def _search(tapp: TestApp, h: dict[str, str], query: str) -> dict:
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": query})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())
