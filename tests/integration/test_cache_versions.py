"""Caches and versions: single-flight counts, a prompt change is a cache miss (across workers
sharing Redis), L2 dying changes nothing for clients, and `.deployed` stops an undeclared model change."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, make_settings
from tests.integration.test_llm_resilience import DIM
from tests.support.servers import serve_in_thread
from tests.support.statements import count_statements
from tests.support.tcp_proxy import TcpProxy
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, create_fake_app
from tomehub.llm.prompts import PROMPTS_DIR
from tomehub.main import create_app
from tomehub.ops.versions import DeploymentMismatch

REDIS = "redis://127.0.0.1:6379/13"


@pytest.fixture
def clean_redis() -> Any:
    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    yield client
    client.flushdb()


@asynccontextmanager
async def running(settings: Any, embedder: HashingEmbedder) -> AsyncIterator[TestApp]:
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


class CountingEmbedder(HashingEmbedder):
    """Counts query embeddings at call time, and takes a moment so concurrent callers overlap."""

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Any:
        if is_query:
            await asyncio.sleep(0.2)
        return await super().embed(texts, timeout_s=timeout_s, operation=operation, is_query=is_query)


async def test_single_flight_one_embedding_and_one_search_for_a_hundred_identical_queries(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = CountingEmbedder(dim=32)
    # A hundred requests at once queue behind 8 slots with the queue's prediction on: it prices a
    # search by searches' slot time, not by the slow add-item before them, so none is refused and
    # single flight answers them all at once.
    settings = make_settings(database_url, tmp_path)
    async with running(settings, embedder) as tapp:
        _, h = tapp.new_user()
        await tapp.client.post("/api/add-item", headers=h, json={"text": "Owls hunt at night over the meadow."})
        await tapp.settle()
        before = embedder.query_calls
        searches = count_statements(monkeypatch, containing="fused AS")
        responses = await asyncio.gather(
            *(tapp.client.post("/api/smart-search", headers=h, json={"query": "night owls"}) for _ in range(100))
        )
        assert {r.status_code for r in responses} == {200}
        assert embedder.query_calls - before == 1  # one embedding call
        assert searches() == 1  # one search statement for all hundred (the rest: a revision check each)
        assert len({tuple(x["chunk_id"] for x in r.json()["hits"]) for r in responses}) == 1


async def test_a_prompt_change_is_a_cache_miss_even_across_workers(
    database_url: str, tmp_path: Path, clean_redis: Any
) -> None:
    fake = FakeProvider(seed=9, embedding_dim=DIM)
    edited = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, edited)
    (edited / "answer.md").write_text((PROMPTS_DIR / "answer.md").read_text() + "\nBe brief.\n")
    with serve_in_thread(create_fake_app(fake)) as fake_url:
        llm = {"embedding_model": "fake-embedding", "embedding_dim": DIM, "chat_model": "fake-chat"}
        common = {"llm_base_url": f"{fake_url}/v1", "redis_url": REDIS, "search": {"expand_queries": False}}
        original = make_settings(database_url, tmp_path / "data", llm=llm, **common)
        changed = make_settings(database_url, tmp_path / "data", llm={**llm, "prompts_dir": edited}, **common)
        outcomes = []
        # Three workers in turn over one Redis: the second finds the first's answer in L2; the
        # third runs edited prompts and must not.
        for turn, settings in enumerate((original, original, changed)):
            async with running(settings, HashingEmbedder(dim=DIM)) as tapp:
                h = tapp.headers("owl-user")
                if turn == 0:
                    await tapp.client.post("/api/add-item", headers=h, json={"text": "Owls hunt voles at night."})
                    await tapp.settle()
                before = fake.counters.calls.get("chat:generation", 0)
                body = (
                    await tapp.client.post("/api/search", headers=h, json={"question": "What do owls hunt?"})
                ).json()
                generated = fake.counters.calls.get("chat:generation", 0) - before
                outcomes.append((body["cached"], generated, body["versions"]["prompt_hash"]))
    first, second, third = outcomes
    assert first[:2] == (False, 1)
    assert second[:2] == (True, 0)
    assert third[:2] == (False, 1)
    assert third[2] != first[2]


async def test_cache_l2_dying_is_invisible_to_clients(database_url: str, tmp_path: Path, clean_redis: Any) -> None:
    proxy = TcpProxy(target_port=6379)
    await proxy.start()
    settings = make_settings(database_url, tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/13")
    async with running(settings, HashingEmbedder(dim=32)) as tapp:
        _, h = tapp.new_user()
        await tapp.client.post("/api/add-item", headers=h, json={"text": "Herons wait in the shallows."})
        await tapp.settle()
        assert (await tapp.client.post("/api/smart-search", headers=h, json={"query": "herons"})).status_code == 200
        assert any(k.startswith(b"tomehub-cache:") for k in clean_redis.keys("*"))
        await proxy.kill()
        tapp.app.state.runtime.cache.clear_l1()
        for query in ("herons", "shallows", "waiting birds"):
            resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": query})
            assert resp.status_code == 200
            assert resp.headers["X-TomeHub-Tier"] == "1"


class ShiftedEmbedder(HashingEmbedder):
    """Same name and declared version, other weights: what a silent model swap looks like."""

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Any:
        vectors = await super().embed(texts, timeout_s=timeout_s, operation=operation, is_query=is_query)
        return np.roll(vectors, 1, axis=1)


async def test_deployed_stops_an_undeclared_model_change(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path)
    async with running(settings, HashingEmbedder(dim=32, version="7")):
        pass
    assert (tmp_path / ".deployed").exists()
    with pytest.raises(DeploymentMismatch, match="TOMEHUB_LLM__EMBEDDING_VERSION"):
        async with running(settings, ShiftedEmbedder(dim=32, version="7")):
            pass
    # Declared: it starts, and says what changed.
    async with running(settings, ShiftedEmbedder(dim=32, version="8")):
        pass
