"""The OpenAI-compatible provider's embeddings over real HTTP (aiohttp, not the SDK): what it sends,
and each provider failure translated into the LLMError the gateway decides by."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request

from tests.support.servers import free_port, serve_in_thread
from tomehub.llm.base import (
    ProviderBadResponse,
    ProviderConnectionError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderServerError,
    ProviderTimeout,
)
from tomehub.llm.fake.server import FakeProvider, FaultUpdate, create_fake_app
from tomehub.llm.providers.openai_compat import OpenAICompatProvider, env_proxy

DIM = 16
FAKE = FakeProvider(seed=3, embedding_dim=DIM)


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with serve_in_thread(create_fake_app(FAKE)) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def provider(fake_url: str) -> AsyncIterator[OpenAICompatProvider]:
    FAKE.reset()
    FAKE.update(FaultUpdate(embeddings={"latency_p50_ms": 0, "latency_p95_ms": 0}))
    p = make(f"{fake_url}/v1")
    yield p
    await p.close()
    FAKE.reset()


def make(base_url: str, **kw: Any) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        name="remote", base_url=base_url, api_key="sk-test", embedding_model="fake-embedding", **kw
    )


async def embed(p: OpenAICompatProvider, texts: list[str], operation: str = "search_embedding") -> Any:
    return await p.embed(texts, timeout_s=1.0, operation=operation, is_query=True)


async def test_vectors_come_back_unit_length_in_the_texts_order(provider: OpenAICompatProvider) -> None:
    texts = ["storm at sea", "tax law", "the sea storm"]
    vectors = await embed(provider, texts)
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Order kept: the two storm texts are the near pair, wherever the server put them.
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1]


async def test_the_operation_header_reaches_the_provider(provider: OpenAICompatProvider) -> None:
    FAKE.update(FaultUpdate(operations={"search_embedding": {"error_rate": 1.0}}))
    with pytest.raises(ProviderServerError, match="500"):
        await embed(provider, ["one"], operation="search_embedding")
    assert (await embed(provider, ["one"], operation="ingest_embedding")).shape == (1, DIM)


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"error_rate": 1.0}, ProviderServerError),
        ({"malformed_rate": 1.0}, ProviderBadResponse),
    ],
)
async def test_failures_become_their_llm_errors(
    provider: OpenAICompatProvider, faults: dict[str, float], error: type[Exception]
) -> None:
    FAKE.update(FaultUpdate(embeddings=faults))
    with pytest.raises(error):
        await embed(provider, ["one"])


async def test_a_429_carries_its_retry_after(provider: OpenAICompatProvider) -> None:
    FAKE.update(FaultUpdate(embeddings={"rate_limit_rate": 1.0, "retry_after_s": 2.5}))
    with pytest.raises(ProviderRateLimited) as caught:
        await embed(provider, ["one"])
    assert caught.value.retry_after_s == 2.5


async def test_a_hanging_provider_times_out_at_the_given_timeout(provider: OpenAICompatProvider) -> None:
    FAKE.update(FaultUpdate(embeddings={"hang_rate": 1.0}))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await provider.embed(["one"], timeout_s=0.3, operation="search_embedding", is_query=True)
    assert 0.25 < time.monotonic() - started < 2.0


async def test_an_unreachable_provider_and_a_wrong_path(fake_url: str) -> None:
    nobody = make(f"http://127.0.0.1:{free_port()}/v1")
    wrong = make(f"{fake_url}/not-v1")
    try:
        with pytest.raises(ProviderConnectionError):
            await embed(nobody, ["one"])
        with pytest.raises(ProviderRejected, match="404"):
            await embed(wrong, ["one"])
    finally:
        await nobody.close()
        await wrong.close()


async def test_a_wrong_dimension_names_the_setting(fake_url: str) -> None:
    p = make(f"{fake_url}/v1", embedding_dim=DIM * 2)
    try:
        with pytest.raises(ProviderBadResponse, match=f"{DIM}-dimensional.*TOMEHUB_LLM__EMBEDDING_DIM={DIM}"):
            await embed(p, ["one"])
    finally:
        await p.close()


def test_what_is_sent_key_model_format_and_dimensions() -> None:
    seen: list[tuple[dict[str, str], dict[str, Any]]] = []
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        body = await request.json()
        seen.append((dict(request.headers), body))
        # Out of order on purpose: the provider sorts by "index".
        return {"data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 0.0]}]}

    with serve_in_thread(app) as url:
        p = make(f"{url}/v1/", embedding_dim=2, send_dimensions=True)

        # Two event loops one after the other, as CLI commands run them: each gets its own pool.
        async def twice() -> Any:
            try:
                return await p.embed(["a", "b"], timeout_s=2.0, operation="ingest_embedding", is_query=False)
            finally:
                await p.close()

        first = asyncio.run(twice())
        second = asyncio.run(twice())
    assert np.allclose(first, [[1.0, 0.0], [0.0, 1.0]]) and np.allclose(second, first)
    headers, body = seen[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["x-tomehub-operation"] == "ingest_embedding"
    assert body == {"model": "fake-embedding", "input": ["a", "b"], "encoding_format": "float", "dimensions": 2}


def test_the_environment_proxy_is_honoured_unless_no_proxy_covers_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.example.com/v1/embeddings") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    assert env_proxy("https://api.example.com/v1/embeddings") == "http://proxy.internal:3128"
    assert env_proxy("http://api.example.com/v1/embeddings") is None  # no HTTP_PROXY set
    assert env_proxy("https://llm.corp.example/v1/embeddings") is None
    assert env_proxy("http://localhost:8100/v1/embeddings") is None
