"""The OpenAI-compatible endpoint (/v1) with the official ``openai`` client, against the app served
over real HTTP on real PostgreSQL and authenticated by a personal API key."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from tests.integration.conftest import TestApp, fresh_database, make_settings
from tests.integration.test_chats_api import FIRST, FOLLOW_UP, LIBRARY, RIGHT
from tests.support.servers import serve_in_thread
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.embedded import EmbeddedServer

ASK_LIMIT = 30  # questions per minute and user: above what the other tests ask, low enough to reach


@dataclass
class Live:
    base: str
    tapp: TestApp


@dataclass
class Reader:
    """A user with a library and a personal API key, and the official client using it."""

    http: httpx.AsyncClient
    jwt: dict[str, str]
    key: str
    key_id: int
    client: openai.AsyncOpenAI


@pytest.fixture(scope="module")
def live(pg_server: EmbeddedServer, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    limits = {"ask": f"{ASK_LIMIT}/minute", "ingest": "1000/second", "default": "1000/second"}
    settings = make_settings(
        fresh_database(pg_server),
        tmp_path_factory.mktemp("openai"),
        rate_limits={"enabled": True, "per_user": limits},
    )
    embedder = HashingEmbedder(dim=64)
    app = create_app(settings, local_embedder=embedder)
    with serve_in_thread(app) as base:
        yield Live(base=base, tapp=TestApp(app=app, client=httpx.AsyncClient(), settings=settings, embedder=embedder))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def library_owner(live: Live) -> AsyncIterator[dict[str, str]]:
    """One user whose library every test reads (ingested once)."""
    uid = "reader-" + uuid.uuid4().hex[:8]
    jwt = {
        "Authorization": f"Bearer {issue_local_token(live.tapp.settings.auth, live.tapp.settings.local_signing_key_path, uid)}"
    }
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
        live.tapp.client = http
        for title, text in LIBRARY.items():
            await live.tapp.ingest(jwt, title.replace(" ", "_") + ".md", text.encode(), title=title)
    yield jwt


@pytest_asyncio.fixture
async def reader(live: Live, library_owner: dict[str, str]) -> AsyncIterator[Reader]:
    """The library's owner with a fresh API key (each test has its own, so rate limits stay apart)."""
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
        resp = await http.post("/api/auth/keys", headers=library_owner, json={"name": f"openai {uuid.uuid4().hex[:6]}"})
        assert resp.status_code == 201, resp.text
        created = resp.json()
        client = openai.AsyncOpenAI(base_url=f"{live.base}/v1", api_key=created["secret"], max_retries=0)
        yield Reader(http=http, jwt=library_owner, key=created["secret"], key_id=created["key"]["id"], client=client)
        await client.close()


def marks(text: str) -> list[int]:
    """Returns the [n] marks of a text in order of first appearance."""
    return list(dict.fromkeys(int(m) for m in re.findall(r"\[(\d+)\]", text.split("\n\nSources:\n")[0])))


async def test_models_lists_the_library(reader: Reader) -> None:
    models = await reader.client.models.list()
    assert [m.id for m in models.data] == ["tomehub"]
    assert (await reader.client.models.retrieve("tomehub")).id == "tomehub"
    with pytest.raises(openai.NotFoundError):
        await reader.client.models.retrieve("gpt-4o")


async def test_a_completion_cites_with_numbers_and_lists_its_sources(reader: Reader) -> None:
    # A search served from the cache has no query lexemes, so its quotes may differ from the first
    # one's: the first search of this question happens here, to compare like with like below.
    await reader.http.post("/api/search", headers=reader.jwt, json={"question": FIRST})
    completion = await reader.client.chat.completions.create(
        model="tomehub",
        messages=[{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": FIRST}],
    )
    assert completion.object == "chat.completion" and completion.model == "tomehub"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    text = choice.message.content
    assert text is not None
    body, _, sources = text.partition("\n\nSources:\n")
    citations = choice.message.model_extra["tomehub_citations"]
    # Chunk ids became 1..n in order of first appearance, each listed with its source.
    assert citations and marks(text) == list(range(1, len(citations) + 1))
    assert [c["n"] for c in citations] == list(range(1, len(citations) + 1))
    for c in citations:
        assert sources.splitlines()[c["n"] - 1] == f"[{c['n']}] {c['title']}"  # no author, no page here
    # The same answer as /api/search gives, its chunk ids renumbered in order of appearance.
    plain = (await reader.http.post("/api/search", headers=reader.jwt, json={"question": FIRST})).json()
    order = list(dict.fromkeys(int(m) for m in re.findall(r"\[(\d+)\]", plain["answer"])))
    assert [c["chunk_id"] for c in citations] == order
    assert body == re.sub(r"\[(\d+)\]", lambda m: f"[{order.index(int(m.group(1))) + 1}]", plain["answer"])
    assert "fear comes from our judgements" in body
    assert completion.model_extra["tomehub"]["answerer"] == "extractive"
    assert completion.usage is not None and completion.usage.total_tokens == 0


async def test_a_stream_assembles_the_same_text_and_ends_with_done(reader: Reader) -> None:
    question = {"role": "user", "content": "What did he teach about freedom in Nicopolis?"}
    # Both answers below come from the cached search (see the test above).
    await reader.http.post("/api/search", headers=reader.jwt, json={"question": question["content"]})
    whole = await reader.client.chat.completions.create(model="tomehub", messages=[question])
    stream = await reader.client.chat.completions.create(model="tomehub", messages=[question], stream=True)
    pieces: list[str] = []
    chunks = []
    async for chunk in stream:
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    assert len(pieces) >= 3  # streamed, not one block
    assert "".join(pieces) == whole.choices[0].message.content
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (
        last.choices[0].delta.model_extra["tomehub_citations"]
        == (whole.choices[0].message.model_extra["tomehub_citations"])
    )
    # On the wire: unnamed data events, the last one [DONE].
    async with reader.http.stream(
        "POST",
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {reader.key}"},
        json={"model": "tomehub", "messages": [question], "stream": True, "stream_options": {"include_usage": True}},
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        data = [line[5:].strip() async for line in resp.aiter_lines() if line.startswith("data:")]
    assert data[-1] == "[DONE]"
    usage = json.loads(data[-2])
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 0


async def test_history_answers_a_follow_up(reader: Reader) -> None:
    first = await reader.client.chat.completions.create(model="tomehub", messages=[{"role": "user", "content": FIRST}])
    follow_up = await reader.client.chat.completions.create(
        model="tomehub",
        messages=[
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
        ],
    )
    extra = follow_up.model_extra
    assert extra is not None and extra["tomehub"]["followup"] == "rule"
    citations = follow_up.choices[0].message.model_extra["tomehub_citations"]
    assert citations[0]["title"] == RIGHT
    assert "death is nothing terrible" in (follow_up.choices[0].message.content or "")


async def test_a_revoked_key_is_refused(reader: Reader) -> None:
    assert (await reader.client.models.list()).data
    revoked = await reader.http.delete(f"/api/auth/keys/{reader.key_id}", headers=reader.jwt)
    assert revoked.status_code == 204
    with pytest.raises(openai.AuthenticationError) as refused:
        await reader.client.chat.completions.create(model="tomehub", messages=[{"role": "user", "content": FIRST}])
    assert refused.value.status_code == 401
    assert refused.value.body == {
        "message": "This API key has been revoked.",
        "type": "authentication_error",
        "param": None,
        "code": "unauthorized",
    }
    # No credential at all, and a browser session cookie (never accepted here), are refused alike.
    for headers in ({}, {"Cookie": "tomehub_session=whatever"}):
        resp = await reader.http.get("/v1/models", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["type"] == "authentication_error"
    # The MCP endpoint is guarded by the same credentials.
    assert (await reader.http.post("/mcp", json={})).status_code == 401


async def test_an_unknown_model_is_404(reader: Reader) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await reader.client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": FIRST}])
    assert missing.value.status_code == 404
    assert isinstance(missing.value.body, dict) and missing.value.body["code"] == "model_not_found"
    assert missing.value.body["type"] == "invalid_request_error"


async def test_malformed_requests_are_422(reader: Reader) -> None:
    bad: list[Any] = [
        [],  # no messages
        [{"role": "system", "content": "Only instructions."}],  # no user message
        [{"role": "user", "content": "   "}],  # an empty question
        [{"role": "wizard", "content": FIRST}],  # an unknown role
    ]
    for messages in bad:
        with pytest.raises(openai.UnprocessableEntityError) as refused:
            await reader.client.chat.completions.create(model="tomehub", messages=messages)
        body = refused.value.body
        assert isinstance(body, dict) and body["type"] == "invalid_request_error" and body["code"] == "bad_input"
    resp = await reader.http.post(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {reader.key}"}, content=b"{not json"
    )
    assert resp.status_code == 422
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


async def test_overload_and_rate_limits_answer_in_openais_shape(live: Live, reader: Reader) -> None:
    question = [{"role": "user", "content": FIRST}]
    # No stream can open: 503 with Retry-After.
    gate = live.tapp.app.state.stream_gate
    gate.max_streams, saved = 0, gate.max_streams
    try:
        with pytest.raises(openai.InternalServerError) as busy:
            await reader.client.chat.completions.create(model="tomehub", messages=question, stream=True)
    finally:
        gate.max_streams = saved
    assert busy.value.status_code == 503
    assert busy.value.response.headers["Retry-After"] == "1"
    assert isinstance(busy.value.body, dict) and busy.value.body["code"] == "too_many_streams"
    # Questions count against the "ask" rate limit, as /api/search does: 429 with Retry-After.
    limited = None
    for _ in range(ASK_LIMIT + 1):
        try:
            await reader.client.chat.completions.create(model="tomehub", messages=question)
        except openai.RateLimitError as exc:
            limited = exc
            break
    assert limited is not None, "never rate limited"
    assert limited.status_code == 429
    assert int(limited.response.headers["Retry-After"]) >= 1
    assert isinstance(limited.body, dict) and limited.body["type"] == "rate_limit_error"
    assert limited.body["code"] == "rate_limited"
