"""The fake provider: OpenAI-shaped replies and faults that obey the control endpoint."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from tomehub.llm.fake.server import FakeProvider, create_fake_app


def client(provider: FakeProvider | None = None) -> httpx.AsyncClient:
    app = create_fake_app(provider or FakeProvider(seed=7, embedding_dim=32))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")


async def test_embeddings_carry_meaning_and_dimension() -> None:
    async with client() as c:
        resp = await c.post(
            "/v1/embeddings", json={"model": "m", "input": ["storm at sea", "the sea storm", "tax law"]}
        )
        assert resp.status_code == 200
        vecs = np.array([d["embedding"] for d in resp.json()["data"]])
        assert vecs.shape == (3, 32)
        assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
        await c.put("/control/faults", json={"embedding_dim": 8})
        resp = await c.post("/v1/embeddings", json={"model": "m", "input": "one"})
        assert len(resp.json()["data"][0]["embedding"]) == 8


async def test_chat_answers_from_the_passages_and_streams() -> None:
    messages = [
        {"role": "system", "content": "TASK: answer"},
        {
            "role": "user",
            "content": "[12] Dasein is the being we are. More.\n[15] Care is its being.\nQUESTION: What is Dasein?",
        },
    ]
    async with client() as c:
        body = (await c.post("/v1/chat/completions", json={"model": "m", "messages": messages})).json()
        text = body["choices"][0]["message"]["content"]
        assert text == "Dasein is the being we are. [12] Care is its being. [15]"
        async with c.stream(
            "POST", "/v1/chat/completions", json={"model": "m", "messages": messages, "stream": True}
        ) as r:
            raw = "".join([x async for x in r.aiter_text()])
        pieces = [json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                  for line in raw.splitlines() if line.startswith("data: {")]  # fmt: skip
        assert "".join(pieces) == text
        assert raw.rstrip().endswith("data: [DONE]")


async def test_judge_and_expansion_replies_are_json() -> None:
    async with client() as c:
        judge = [{"role": "user", "content": "TASK: judge\n[3] text\nANSWER: claim [3] and [9]"}]
        verdict = json.loads(
            (await c.post("/v1/chat/completions", json={"messages": judge})).json()["choices"][0]["message"]["content"]
        )
        assert verdict["verdict"] == "REGENERATE"  # [9] was never given
        expand = [{"role": "user", "content": "TASK: expand\nQUESTION: what is care in Heidegger"}]
        out = json.loads(
            (await c.post("/v1/chat/completions", json={"messages": expand})).json()["choices"][0]["message"]["content"]
        )
        assert 1 <= len(out["queries"]) <= 3


async def test_faults_errors_rate_limits_and_per_operation_overrides() -> None:
    async with client() as c:
        await c.put("/control/faults", json={"embeddings": {"error_rate": 1.0}})
        assert (await c.post("/v1/embeddings", json={"input": "x"})).status_code == 500
        await c.put(
            "/control/faults", json={"embeddings": {"error_rate": 0.0, "rate_limit_rate": 1.0, "retry_after_s": 3}}
        )
        resp = await c.post("/v1/embeddings", json={"input": "x"})
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "3"
        await c.put("/control/faults", json={"operations": {"ingest-embedding": {"error_rate": 1.0}},
                                              "embeddings": {"rate_limit_rate": 0.0}})  # fmt: skip
        ok = await c.post("/v1/embeddings", json={"input": "x"}, headers={"X-TomeHub-Operation": "search-embedding"})
        bad = await c.post("/v1/embeddings", json={"input": "x"}, headers={"X-TomeHub-Operation": "ingest-embedding"})
        assert (ok.status_code, bad.status_code) == (200, 500)
        await c.put("/control/faults", json={"embeddings": {"malformed_rate": 1.0}})
        with pytest.raises(json.JSONDecodeError):
            (await c.post("/v1/embeddings", json={"input": "x"})).json()
        stats = (await c.get("/control/stats")).json()
        assert stats["calls"]["embeddings"] == 5
        assert stats["outcomes"]["embeddings:429"] == 1
        assert stats["calls"]["embeddings:ingest-embedding"] == 1
        await c.post("/control/reset")
        assert (await c.get("/control/stats")).json()["calls"] == {}


async def test_same_seed_same_latencies() -> None:
    a, b = FakeProvider(seed=3), FakeProvider(seed=3)
    faults = a.faults["chat"].model_copy(update={"latency_p50_ms": 100, "latency_p95_ms": 400})
    la = [a.latency_s("chat", faults) for _ in range(200)]
    lb = [b.latency_s("chat", faults) for _ in range(200)]
    assert la == lb
    assert 0.08 < float(np.median(la)) < 0.125
    assert 0.3 < float(np.percentile(la, 95)) < 0.55
