"""Answers over HTTP: cited extractive answers as JSON and as server-sent events."""

from __future__ import annotations

import json

from tests.integration.conftest import TestApp

GUIDE = b"""# A short guide to Being and Time

## Dasein

Dasein is Heidegger's name for the being that each of us is. Dasein is the entity for which its own
being is an issue. It is always already in a world, among things and others.

## Care

Care is the being of Dasein. It unites existence, facticity and falling.

## Bread

Bread is baked in ovens; it has nothing to do with fundamental ontology.
"""


def _parse_sse(raw: str) -> list[tuple[str, dict]]:
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if name:
            events.append((name, json.loads("\n".join(data))))
    return events


async def test_answer_cites_chunks_it_was_given(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await tapp.ingest(h, "guide.md", GUIDE)
    resp = await tapp.client.post("/api/search", headers=h, json={"question": "What is Dasein?"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["X-TomeHub-Tier"] == "1"
    body = resp.json()
    assert body["answerer"] == "extractive"
    assert "Dasein" in body["answer"]
    source_ids = {s["chunk_id"] for s in body["sources"]}
    cited = {c["chunk_id"] for c in body["citations"]}
    assert cited and cited <= source_ids
    for chunk_id in cited:
        assert f"[{chunk_id}]" in body["answer"]
    assert all(c["title"] == "A short guide to Being and Time" for c in body["citations"])
    assert "Bread is baked" not in body["answer"]


async def test_answer_streams_sources_tokens_then_done(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await tapp.ingest(h, "guide.md", GUIDE)
    headers = {**h, "Accept": "text/event-stream"}
    async with tapp.client.stream("POST", "/api/search", headers=headers, json={"question": "What is care?"}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["X-TomeHub-Tier"] == "1"
        raw = "".join([chunk async for chunk in resp.aiter_text()])
    events = _parse_sse(raw)
    names = [name for name, _ in events]
    assert names[0] == "sources"
    assert names[-1] == "done"
    assert names.count("token") >= 3
    assert set(names[1:-1]) == {"token"}
    streamed = "".join(data["text"] for name, data in events if name == "token")
    done = events[-1][1]
    assert done["answer"] == streamed.strip()
    assert done["answerer"] == "extractive"
    assert done["citations"]
    hits = events[0][1]["hits"]
    assert {c["chunk_id"] for c in done["citations"]} <= {x["chunk_id"] for x in hits}


async def test_question_with_empty_library_says_so(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    body = (await tapp.client.post("/api/search", headers=h, json={"question": "What is Dasein?"})).json()
    assert body["citations"] == []
    assert body["sources"] == []
    assert "Nothing in your library" in body["answer"]


async def test_answers_never_quote_another_users_library(tapp: TestApp) -> None:
    _, alice = tapp.new_user()
    _, bob = tapp.new_user()
    await tapp.ingest(alice, "guide.md", GUIDE)
    await tapp.client.post("/api/add-item", headers=bob, json={"text": "Bob keeps notes about tomatoes."})
    await tapp.settle()
    body = (await tapp.client.post("/api/search", headers=bob, json={"question": "What is Dasein?"})).json()
    assert "Heidegger" not in body["answer"]
    assert all("Dasein" not in s["text"] for s in body["sources"])


async def test_bad_questions_are_422_also_when_streaming(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    for headers in (h, {**h, "Accept": "text/event-stream"}):
        for payload in ({"question": ""}, {"question": "   "}, {"query": "wrong field"}, {"question": "x" * 3000}):
            resp = await tapp.client.post("/api/search", headers=headers, json=payload)
            assert resp.status_code == 422, (payload, resp.text)
            assert resp.json()["error"]["code"] == "bad_input"
