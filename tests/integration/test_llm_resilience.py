"""The LLM layer against the fake provider over real HTTP: breakers per operation, recovery, retry
budget, deadlines, tiers, judge verdicts, query expansion, metrics."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, make_settings
from tests.support.servers import serve_in_thread
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, create_fake_app
from tomehub.main import create_app

DIM = 64
OPEN_S = 1.0


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    provider = FakeProvider(seed=11, embedding_dim=DIM)
    with serve_in_thread(create_fake_app(provider)) as url:
        yield url


def llm_settings(database_url: str, data_dir: Any, fake_url: str, **llm: Any) -> Any:
    base = {
        "embedding_model": "fake-embedding",
        "embedding_dim": DIM,
        "chat_model": "fake-chat",
        "search_embedding_timeout_s": 0.5,
        "judge_timeout_s": 1.0,
        "query_expansion_timeout_s": 1.0,
        "background_max_attempts": 2,
        "background_backoff_max_s": 0.2,
        "breaker": {"window_s": 30, "min_calls": 4, "failure_rate": 0.5, "open_s": OPEN_S, "probes_to_close": 2},
    }
    base.update(llm)
    return make_settings(database_url, data_dir, llm_base_url=f"{fake_url}/v1", llm=base)


class Fake:
    """Control of the fake provider."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def faults(self, **change: Any) -> None:
        resp = await self.http.put("/control/faults", json=change)
        assert resp.status_code == 200, resp.text

    async def stats(self) -> dict[str, Any]:
        return dict((await self.http.get("/control/stats")).json())

    async def calls(self, key: str) -> int:
        return int((await self.stats())["calls"].get(key, 0))

    async def reset(self) -> None:
        await self.http.post("/control/reset")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def lapp(database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_url: str) -> AsyncIterator[TestApp]:
    async with running_app(llm_settings(database_url, tmp_path_factory.mktemp("llm-data"), fake_url)) as tapp:
        yield tapp


@asynccontextmanager
async def running_app(settings: Any) -> AsyncIterator[TestApp]:
    """The app started with ``settings`` and a client to it."""
    embedder = HashingEmbedder(dim=DIM)  # only its tokenizer is used: embeddings go to the fake
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


def one_slot(settings: Any) -> Any:
    """``settings`` with one admission slot per worker and room to queue (the queue's prediction on:
    it prices a search by searches' slot time, so the slow ingestion just before does not refuse
    the last of a few requests that the slot's release during provider waits serves in time)."""
    server = {"max_in_flight": 1, "max_queue": 10}
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


@pytest_asyncio.fixture(loop_scope="session")
async def fake(fake_url: str, lapp: TestApp) -> AsyncIterator[Fake]:
    control = Fake(fake_url)
    await control.reset()
    # Every test starts with closed breakers and empty caches.
    lapp.app.state.runtime.llm.breaker_store._snaps.clear()
    lapp.app.state.runtime.cache._l1.clear()
    yield control
    await control.reset()
    await control.http.aclose()


async def breakers(tapp: TestApp) -> dict[str, dict[str, Any]]:
    body = (await tapp.client.get("/api/health/circuit-breakers")).json()
    return {b["operation"]: b for b in body["breakers"]}


async def library(tapp: TestApp, texts: list[str]) -> dict[str, str]:
    _, h = tapp.new_user()
    for text in texts:
        resp = await tapp.client.post("/api/add-item", headers=h, json={"text": text})
        assert resp.status_code == 201, resp.text
    await tapp.settle()
    return h


NOTES = [
    "The lighthouse keeper trimmed the lamp every evening before the storm.",
    "Dasein is Heidegger's term for the being that we ourselves are.",
    "Bread is baked at dawn in the village oven.",
]


async def search(tapp: TestApp, h: dict[str, str], query: str, **body: Any) -> httpx.Response:
    return await tapp.client.post("/api/smart-search", headers=h, json={"query": query, **body})


async def test_remote_embeddings_serve_tier_one(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    resp = await search(lapp, h, "lighthouse storm", expand=False)
    assert resp.headers["X-TomeHub-Tier"] == "1"
    assert "lighthouse" in resp.json()["hits"][0]["text"]
    assert await fake.calls("embeddings:search-embedding") == 1
    assert await fake.calls("embeddings:ingest-embedding") >= 1


async def test_a_malformed_embedding_answer_degrades_to_keywords(lapp: TestApp, fake: Fake) -> None:
    # The body is read by TomeHub, not the SDK: a truncated one must still be a provider fault.
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"malformed_rate": 1.0}})
    resp = await search(lapp, h, "lighthouse storm", expand=False)
    assert resp.status_code == 200
    assert resp.headers["X-TomeHub-Tier"] == "2"
    assert "lighthouse" in resp.json()["hits"][0]["text"]
    assert (await fake.stats())["outcomes"].get("embeddings:malformed", 0) >= 1


async def test_search_breaker_opens_on_failure_rate_and_fails_fast(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    for n in range(6):
        resp = await search(lapp, h, f"lighthouse keeper {n}", expand=False)
        assert resp.status_code == 200
        assert resp.headers["X-TomeHub-Tier"] == "2"
    state = await breakers(lapp)
    assert state["search-embedding"]["state"] == "open"
    assert state["search-embedding"]["next_probe_at"] is not None
    for other in ("ingest-embedding", "generation", "judge", "query-expansion"):
        assert state[other]["state"] == "closed"
    # Open: no call reaches the provider, and the answer comes at once.
    before = await fake.calls("embeddings:search-embedding")
    started = time.perf_counter()
    resp = await search(lapp, h, "lighthouse again", expand=False)
    elapsed = time.perf_counter() - started
    assert resp.headers["X-TomeHub-Tier"] == "2"
    assert resp.headers["X-TomeHub-Degraded"] == "breaker_open"
    assert resp.json()["degraded"] == "breaker_open"
    assert await fake.calls("embeddings:search-embedding") == before
    assert elapsed < 0.25, elapsed


async def test_failing_ingestion_never_opens_search_breaker(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"ingest-embedding": {"error_rate": 1.0}})
    for n in range(5):
        await lapp.client.post("/api/add-item", headers=h, json={"text": f"A new note number {n} about tides."})
    deadline = time.monotonic() + 20
    while (await breakers(lapp))["ingest-embedding"]["state"] != "open":
        assert time.monotonic() < deadline, await breakers(lapp)
        await asyncio.sleep(0.1)
    state = await breakers(lapp)
    assert state["search-embedding"]["state"] == "closed"
    resp = await search(lapp, h, "Dasein", expand=False)
    assert resp.headers["X-TomeHub-Tier"] == "1"
    # The notes are still found by keyword while their vectors wait.
    resp = await search(lapp, h, "tides", expand=False)
    assert any("tides" in x["text"] for x in resp.json()["hits"])


async def test_half_open_probes_close_the_breaker_after_recovery(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    for n in range(5):
        await search(lapp, h, f"storm {n}", expand=False)
    assert (await breakers(lapp))["search-embedding"]["state"] == "open"
    await fake.faults(operations={"search-embedding": None})  # the provider heals
    await asyncio.sleep(OPEN_S + 0.1)
    tiers = [(await search(lapp, h, f"village oven {n}", expand=False)).headers["X-TomeHub-Tier"] for n in range(3)]
    assert tiers == ["1", "1", "1"]
    assert (await breakers(lapp))["search-embedding"]["state"] == "closed"


async def test_a_failed_probe_opens_the_breaker_again(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    for n in range(5):
        await search(lapp, h, f"storm {n}", expand=False)
    await asyncio.sleep(OPEN_S + 0.1)
    await search(lapp, h, "probe", expand=False)  # still failing
    state = (await breakers(lapp))["search-embedding"]
    assert state["state"] == "open"


async def test_retry_budget_caps_provider_calls(lapp: TestApp, fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    h = await library(lapp, NOTES)
    # Keep the breaker out of the way so every search reaches the provider.
    policy = lapp.app.state.runtime.llm.gateway.breakers["search-embedding"].core.policy
    monkeypatch.setattr(lapp.app.state.runtime.llm.gateway.breakers["search-embedding"].core, "policy",
                        policy.__class__(**{**policy.__dict__, "min_calls": 10_000}))  # fmt: skip
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    searches = 60
    for n in range(searches):
        await search(lapp, h, f"query {n}", expand=False)
    calls = await fake.calls("embeddings:search-embedding")
    budget = lapp.app.state.runtime.llm.gateway.budgets["search-embedding"]
    # Retries stay within the budget: its floor plus 10 % of the calls in its window (the searches,
    # and the start-up probe when this test runs first).
    allowed = math.ceil(budget.min_retries + budget.ratio * budget.calls_in_window)
    assert searches < calls <= searches + allowed, calls
    assert budget.refused > 0


async def test_hanging_provider_cannot_hold_a_search_past_its_timeout(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"hang_rate": 1.0}})
    started = time.perf_counter()
    resp = await search(lapp, h, "lighthouse", expand=False)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200
    assert resp.headers["X-TomeHub-Tier"] == "2"
    # One 0.5 s attempt, at most one retry of 0.5 s: never the provider's (infinite) time.
    assert elapsed < 1.6, elapsed


async def test_the_request_deadline_caps_the_provider_call_and_leaves_time_for_keywords(
    lapp: TestApp, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await library(lapp, NOTES)
    gateway = lapp.app.state.runtime.llm.gateway
    route = gateway.routes["search-embedding"]
    # A provider allowed 30 s per attempt, hanging, under a client's 2 s deadline: the call is cut
    # with search.fallback_reserve_s (1 s) left, and keywords answer within it.
    monkeypatch.setitem(gateway.routes, "search-embedding", route.__class__(**{**route.__dict__, "timeout_s": 30.0}))
    await fake.faults(operations={"search-embedding": {"hang_rate": 1.0}})
    started = time.perf_counter()
    resp = await search(lapp, {**h, "X-TomeHub-Deadline-Ms": "2000"}, "lighthouse", expand=False)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-TomeHub-Tier"] == "2"
    assert resp.headers["X-TomeHub-Degraded"] == "timeout"
    assert 0.9 < elapsed < 1.9, elapsed


async def test_cached_results_serve_while_the_provider_or_the_database_is_down(
    lapp: TestApp, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await library(lapp, NOTES)
    first = await search(lapp, h, "Dasein Heidegger", expand=False)
    assert first.headers["X-TomeHub-Tier"] == "1"
    assert first.json()["cached"] is False
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    # Same query, same versions, same library: the cached hybrid result is as good as a new one.
    again = await search(lapp, h, "Dasein Heidegger", expand=False)
    assert again.headers["X-TomeHub-Tier"] == "1"
    assert again.json()["cached"] is True
    assert [x["chunk_id"] for x in again.json()["hits"]] == [x["chunk_id"] for x in first.json()["hits"]]
    assert await fake.calls("embeddings:search-embedding") == 1
    other = await search(lapp, h, "bread oven", expand=False)
    assert other.headers["X-TomeHub-Tier"] == "2"  # nothing cached for it: keywords
    # The database goes away: the last result for the query is served as tier 3, marked stale.
    from tomehub.errors import DatabaseUnavailable

    def down(*args: object, **kwargs: object) -> object:
        raise DatabaseUnavailable("down", retry_after_s=2)

    monkeypatch.setattr(lapp.app.state.resources.db, "read", down)
    tier3 = await search(lapp, h, "Dasein Heidegger", expand=False)
    assert tier3.status_code == 200
    assert tier3.headers["X-TomeHub-Tier"] == "3"
    assert tier3.json()["stale"] is True
    nothing = await search(lapp, h, "never asked before", expand=False)
    assert nothing.status_code == 503
    assert nothing.json()["error"]["code"] == "database_unavailable"


async def test_repeated_queries_reuse_their_embedding(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    for _ in range(3):
        assert (await search(lapp, h, "the keeper's lamp", expand=False)).headers["X-TomeHub-Tier"] == "1"
    assert await fake.calls("embeddings:search-embedding") == 1


async def test_llm_answer_passes_the_judge_with_valid_citations(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    body = (
        await lapp.client.post("/api/search", headers=h, json={"question": "What does the keeper do before storms?"})
    ).json()
    assert body["answerer"] == "llm"
    assert body["review"] in ("passed", "fast-track")
    given = {s["chunk_id"] for s in body["sources"]}
    assert body["citations"]
    assert {c["chunk_id"] for c in body["citations"]} <= given
    assert body["versions"]["chat_model"] == "fake-chat"
    assert len(body["versions"]["prompt_hash"]) == 16
    if body["review"] == "passed":
        assert body["scores"]["citation_accuracy"] == 1.0


async def test_invented_citations_are_regenerated_with_hints(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(chat={"invent_citation_rate": 1.0})
    headers = {**h, "Accept": "text/event-stream"}
    async with lapp.client.stream(
        "POST", "/api/search", headers=headers, json={"question": "What is in the village oven at dawn?"}
    ) as r:
        raw = "".join([x async for x in r.aiter_text()])
    names = [line[6:].strip() for line in raw.splitlines() if line.startswith("event:")]
    assert "reset" in names
    done = _last_data(raw)
    assert done["review"] == "regenerated"
    assert done["answerer"] == "llm"
    assert "999999999" not in done["answer"]


async def test_answers_that_stay_bad_are_declined_to_the_extractive_answer(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(chat={"invent_citation_rate": 1.0, "ignore_hints": True})
    body = (
        await lapp.client.post("/api/search", headers=h, json={"question": "What is in the village oven at dawn?"})
    ).json()
    assert body["review"] == "declined"
    assert body["answerer"] == "extractive"
    assert body["fallback_reason"] == "declined by the judge"
    assert "999999999" not in body["answer"]
    assert body["citations"]


async def test_judge_down_means_unreviewed_never_silently_passed(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"judge": {"error_rate": 1.0}})
    body = (
        await lapp.client.post(
            "/api/search",
            headers=h,
            json={"question": "Tell me everything about the keeper and the storm and the lamp"},
        )
    ).json()
    assert body["answerer"] == "llm"
    assert body["review"] == "unreviewed"


async def test_generation_down_falls_back_to_quotes_fast(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"generation": {"error_rate": 1.0}})
    body = (await lapp.client.post("/api/search", headers=h, json={"question": "What is Dasein?"})).json()
    assert body["answerer"] == "extractive"
    assert body["review"] == "quoted"
    assert body["fallback_reason"].startswith("generation unavailable")
    assert "Dasein" in body["answer"]


async def test_query_expansion_is_fused_cached_and_skipped_under_pressure(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    resp = await search(lapp, h, "keeper lamp storm", expand=True)
    body = resp.json()
    assert 1 <= len(body["expanded_queries"]) <= 3
    calls = await fake.calls("chat:query-expansion")
    assert calls == 1
    await search(lapp, h, "keeper lamp storm", expand=True)
    assert await fake.calls("chat:query-expansion") == 1  # cached
    await fake.faults(operations={"query-expansion": {"error_rate": 1.0}})
    for n in range(5):
        await search(lapp, h, f"another question {n}", expand=True)
    assert (await breakers(lapp))["query-expansion"]["state"] == "open"
    before = await fake.calls("chat:query-expansion")
    resp = await search(lapp, h, "one more question", expand=True)
    assert resp.json()["expanded_queries"] == []
    assert resp.headers["X-TomeHub-Tier"] == "1"
    assert await fake.calls("chat:query-expansion") == before


async def test_query_expansion_caps_the_reply_and_a_reply_cut_there_expands_nothing(
    database_url: str, tmp_path: Path, fake_url: str, fake: Fake
) -> None:
    """The expander asks for at most ``expansion_max_tokens``: a model that runs on (a 135M model
    wrote 200-300 tokens of invented JSON, docs/retrieval.md) is cut off, its reply is not JSON, and
    the search is answered without expansion instead of waiting for the rest."""
    settings = llm_settings(database_url, tmp_path, fake_url, expansion_max_tokens=16)
    async with running_app(settings) as tapp:
        h = await library(tapp, NOTES)
        before = await fake.calls("chat:query-expansion")
        resp = await search(tapp, h, "how did the old keeper tend the lamp through the winter storm", expand=True)
        assert resp.status_code == 200
        assert resp.json()["expanded_queries"] == []
        assert resp.headers["X-TomeHub-Tier"] == "1"
        assert await fake.calls("chat:query-expansion") > before  # asked, and the reply was cut


async def test_breaker_gauges_report_the_real_state(lapp: TestApp, fake: Fake) -> None:
    h = await library(lapp, NOTES)
    await fake.faults(operations={"search-embedding": {"error_rate": 1.0}})
    for n in range(5):
        await search(lapp, h, f"gauge {n}", expand=False)
    text = (await lapp.client.get("/metrics")).text
    assert 'tomehub_breaker_state{operation="search-embedding"} 2.0' in text
    assert 'tomehub_breaker_state{operation="generation"} 0.0' in text


def _last_data(raw: str) -> dict[str, Any]:
    import json

    blocks = [b for b in raw.replace("\r\n", "\n").split("\n\n") if "event: done" in b]
    data = next(line[5:].strip() for line in blocks[-1].split("\n") if line.startswith("data:"))
    return dict(json.loads(data))


async def test_provider_waits_do_not_hold_the_workers_slots(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_url: str
) -> None:
    """One slot, four searches whose query embedding takes 0.4 s at the provider: each gives its slot
    back while it waits, so all four are embedded within a 2.3 s deadline, which leaves the
    embedding 1.3 s (held through the provider call, the last would start after 1.2 s and miss it)."""
    fake = Fake(fake_url)
    await fake.reset()
    settings = llm_settings(database_url, tmp_path_factory.mktemp("io-data"), fake_url, search_embedding_timeout_s=2.0)
    try:
        async with running_app(one_slot(settings)) as tapp:
            _, h = tapp.new_user()
            await tapp.ingest(h, "sea.txt", b"The lighthouse keeper watched the sea every night.")
            await fake.faults(operations={"search-embedding": {"latency_p50_ms": 400, "latency_p95_ms": 400}})
            h = {**h, "X-TomeHub-Deadline-Ms": "2300"}
            answers = await asyncio.gather(*(search(tapp, h, f"lighthouse keeper {n}", expand=False) for n in range(4)))
            assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
            assert all(r.headers["X-TomeHub-Tier"] == "1" for r in answers)  # embedded, not degraded
            core = tapp.app.state.admission.core
            assert core.in_flight == 0 and core.io_waiting == 0
    finally:
        await fake.faults(operations={"search-embedding": None})
        await fake.reset()


async def test_answers_being_written_do_not_hold_the_workers_slots(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_url: str
) -> None:
    """One slot, four questions whose writer streams for ~0.8 s: each answer gives its slot back
    while the writer writes, so all four are answered by the model within a 3 s deadline. Held
    through the stream, the answers queued one behind the other and the later ones ran out of time
    (504, or quotes instead of the writer)."""
    fake = Fake(fake_url)
    await fake.reset()
    settings = llm_settings(database_url, tmp_path_factory.mktemp("stream-slot-data"), fake_url)
    try:
        async with running_app(one_slot(settings)) as tapp:
            h = await library(tapp, NOTES)
            await fake.faults(operations={"generation": {"token_delay_ms": 40}})
            h = {**h, "X-TomeHub-Deadline-Ms": "3000"}
            questions = [f"What does the keeper do before storms, {n}?" for n in range(4)]
            answers = await asyncio.gather(
                *(tapp.client.post("/api/search", headers=h, json={"question": q}) for q in questions)
            )
            assert [r.status_code for r in answers] == [200] * 4, [r.text[:200] for r in answers]
            assert [r.json()["answerer"] for r in answers] == ["llm"] * 4
            core = tapp.app.state.admission.core
            assert core.in_flight == 0 and core.io_waiting == 0
    finally:
        await fake.faults(operations={"generation": None})
        await fake.reset()
