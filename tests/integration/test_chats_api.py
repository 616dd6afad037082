"""Chat sessions over HTTP on real PostgreSQL: the chat list (paging, search by text), messages
stored with their answers, a stream cut early stored incomplete, and follow-ups answered from the
conversation both without a chat model (the rule) and with one (condensed, by the fake provider)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.conftest import TestApp, fresh_database
from tests.integration.test_llm_resilience import DIM, llm_settings
from tests.support.servers import serve_in_thread
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, FaultUpdate, create_fake_app
from tomehub.main import create_app
from tomehub.store.embedded import EmbeddedServer

# A library where "What did he say about death?" alone is ambiguous: a short Montaigne passage
# about death ranks first, Epictetus's passage about death lower. Only the conversation (a
# question about Epictetus) says which "he" is meant.
_TEACH = "In Nicopolis he would teach his students, and say that"
LIBRARY = {
    "Epictetus on death": "Epictetus would teach his students in Nicopolis, and say that death is nothing "
    "terrible: it is our judgement of it that frightens us.",
    "Epictetus on fear": f"{_TEACH} fear comes from our judgements of things outside our control.",
    "Epictetus on freedom": f"{_TEACH} freedom is wanting only what is in our power.",
    "Epictetus on illness": f"{_TEACH} illness hinders the body, never the will.",
    "Epictetus on exile": f"{_TEACH} exile only changes the place where a person lives.",
    "Epictetus on wealth": f"{_TEACH} wealth is a loan to be given back.",
    "Montaigne on death": "Montaigne would say that to philosophize is to learn death, to rehearse death.",
    "The old soldier": "The old soldier would say he saw death at Waterloo.",
    "The village doctor": "The doctor would say that death came quietly in the night.",
    "On bread": "The baker would say he likes bread that rises at dawn.",
    "On lighthouses": "The keeper would say he trims the lamp before every storm.",
}
FIRST = "What did Epictetus teach his students in Nicopolis about fear?"
FOLLOW_UP = "What did he say about death?"
RIGHT, WRONG = "Epictetus on death", "Montaigne on death"


def parse_sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
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


async def ingest_library(tapp: TestApp, h: dict[str, str]) -> None:
    for title, text in LIBRARY.items():
        await tapp.ingest(h, title.replace(" ", "_") + ".md", text.encode(), title=title)


async def new_chat(client: httpx.AsyncClient, h: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/chats", headers=h, json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def say(client: httpx.AsyncClient, h: dict[str, str], chat_id: str, content: str) -> dict[str, Any]:
    resp = await client.post(f"/api/chats/{chat_id}/messages", headers=h, json={"content": content})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


# ---------------------------------------------------------------- the chat list


async def test_create_get_rename_delete(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    chat = await new_chat(tapp.client, h)
    assert chat["title"] is None and chat["message_count"] == 0
    named = await new_chat(tapp.client, h, title="  Stoics   and death ")
    assert named["title"] == "Stoics and death"
    got = (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).json()
    assert got["id"] == chat["id"] and got["messages"] == []
    renamed = await tapp.client.patch(f"/api/chats/{chat['id']}", headers=h, json={"title": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed"
    assert renamed.json()["updated_at"] >= chat["updated_at"]
    assert (await tapp.client.patch(f"/api/chats/{chat['id']}", headers=h, json={"title": "   "})).status_code == 422
    assert (await tapp.client.delete(f"/api/chats/{chat['id']}", headers=h)).status_code == 204
    assert (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).status_code == 404
    assert (await tapp.client.delete(f"/api/chats/{chat['id']}", headers=h)).status_code == 404
    listed = (await tapp.client.get("/api/chats", headers=h)).json()
    assert [c["id"] for c in listed["chats"]] == [named["id"]]


async def test_the_list_pages_newest_first_with_a_cursor(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    made = [(await new_chat(tapp.client, h, title=f"chat {n}"))["id"] for n in range(7)]
    # Activity moves a chat to the top: rename the oldest.
    await tapp.client.patch(f"/api/chats/{made[0]}", headers=h, json={"title": "chat 0, renamed"})
    expected = [made[0], *reversed(made[1:])]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await tapp.client.get("/api/chats", headers=h, params=params)).json()
        assert len(page["chats"]) <= 3
        seen += [c["id"] for c in page["chats"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    bad = await tapp.client.get("/api/chats", headers=h, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_input"


async def test_search_finds_chats_by_title_and_message_text(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await ingest_library(tapp, h)
    by_title = await new_chat(tapp.client, h, title="Lighthouse questions")
    by_text = await new_chat(tapp.client, h)
    await say(tapp.client, h, by_text["id"], "What did the baker like about bread?")
    await new_chat(tapp.client, h, title="Something else")

    async def found(q: str) -> list[str]:
        resp = await tapp.client.get("/api/chats", headers=h, params={"q": q})
        assert resp.status_code == 200, resp.text
        return [c["id"] for c in resp.json()["chats"]]

    assert await found("lighthouse") == [by_title["id"]]
    assert await found("bread") == [by_text["id"]]  # the question, and the answer quoting the baker
    assert await found("bak") == [by_text["id"]]  # a word's beginning matches as the user types
    assert await found("baker dawn") == [by_text["id"]]  # every word must match
    assert await found("submarine") == []
    # Another user's chats are never found.
    _, other = tapp.new_user()
    assert (await tapp.client.get("/api/chats", headers=other, params={"q": "bread"})).json()["chats"] == []


async def test_another_users_chat_is_not_found_everywhere(tapp: TestApp) -> None:
    _, alice = tapp.new_user()
    _, bob = tapp.new_user()
    chat = await new_chat(tapp.client, alice, title="Alice's")
    url = f"/api/chats/{chat['id']}"
    assert (await tapp.client.get(url, headers=bob)).status_code == 404
    assert (await tapp.client.patch(url, headers=bob, json={"title": "mine now"})).status_code == 404
    assert (await tapp.client.delete(url, headers=bob)).status_code == 404
    for accept in ("application/json", "text/event-stream"):
        resp = await tapp.client.post(
            f"{url}/messages", headers={**bob, "Accept": accept}, json={"content": "What is in here?"}
        )
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "not_found"
    assert (await tapp.client.get("/api/chats", headers=bob)).json()["chats"] == []
    # Untouched for its owner.
    mine = (await tapp.client.get(url, headers=alice)).json()
    assert mine["title"] == "Alice's" and mine["messages"] == []
    missing = await tapp.client.get(f"/api/chats/{uuid.uuid4()}", headers=alice)
    assert missing.status_code == 404
    assert (await tapp.client.get("/api/chats/not-a-uuid", headers=alice)).status_code == 422


async def test_bad_messages_are_422(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    chat = await new_chat(tapp.client, h)
    for headers in (h, {**h, "Accept": "text/event-stream"}):
        for payload in ({"content": ""}, {"content": "   "}, {"question": "wrong field"}, {"content": "x" * 3000}):
            resp = await tapp.client.post(f"/api/chats/{chat['id']}/messages", headers=headers, json=payload)
            assert resp.status_code == 422, (payload, resp.text)
            assert resp.json()["error"]["code"] == "bad_input"
    assert (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).json()["messages"] == []


# ---------------------------------------------------------------- messages and their answers


async def test_a_message_and_its_answer_are_stored(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await ingest_library(tapp, h)
    chat = await new_chat(tapp.client, h)
    asked = "What did Epictetus say about exile?  And more words after the first sentence."
    answer = await say(tapp.client, h, chat["id"], f"  {asked}  ")
    assert answer["chat_id"] == chat["id"]
    assert answer["followup"] is None  # a first question: nothing to follow up on
    assert answer["search_query"] == asked
    assert answer["answerer"] == "extractive" and answer["review"] == "quoted"
    assert answer["citations"] and answer["tier"] == 1
    got = (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).json()
    # Named after the first question's first sentence.
    assert got["title"] == "What did Epictetus say about exile?"
    assert got["message_count"] == 2
    question, reply = got["messages"]
    assert question["id"] == answer["user_message_id"] and question["role"] == "user"
    assert question["content"] == asked
    assert question["citations"] == [] and question["answerer"] is None
    assert reply["id"] == answer["assistant_message_id"] and reply["role"] == "assistant"
    assert reply["content"] == answer["answer"]
    assert reply["citations"] == answer["citations"]
    assert (reply["answerer"], reply["review"], reply["tier"]) == ("extractive", "quoted", 1)
    assert reply["versions"] == answer["versions"] and reply["versions"]["prompt_hash"]
    assert reply["search_query"] == answer["search_query"] and reply["complete"] is True
    assert question["created_at"] <= reply["created_at"]
    # A long first question makes a title of at most 60 characters, cut at a word.
    other = await new_chat(tapp.client, h)
    long_question = "Which passages of my library talk about judgements and the things outside our control"
    await say(tapp.client, h, other["id"], long_question)
    title = (await tapp.client.get(f"/api/chats/{other['id']}", headers=h)).json()["title"]
    assert len(title) <= 60 and title.endswith("…") and long_question.startswith(title[:-1])


async def test_a_streamed_message_is_stored_when_done(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await ingest_library(tapp, h)
    chat = await new_chat(tapp.client, h, title="Streams")
    headers = {**h, "Accept": "text/event-stream"}
    async with tapp.client.stream(
        "POST", f"/api/chats/{chat['id']}/messages", headers=headers, json={"content": FIRST}
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["X-TomeHub-Tier"] == "1"
        raw = "".join([chunk async for chunk in resp.aiter_text()])
    events = parse_sse(raw)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and "token" in names
    done = events[-1][1]
    streamed = "".join(data["text"] for name, data in events if name == "token")
    assert done["answer"] == streamed.strip()
    got = (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).json()
    assert got["title"] == "Streams"  # a given title stays
    assert [m["id"] for m in got["messages"]] == [done["user_message_id"], done["assistant_message_id"]]
    assert got["messages"][1]["content"] == done["answer"] and got["messages"][1]["complete"] is True


# ---------------------------------------------------------------- follow-ups without a chat model


async def test_a_pronoun_follow_up_is_answered_from_history_by_the_rule(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await ingest_library(tapp, h)
    # Alone, the follow-up finds Montaigne: "he" could be anyone.
    alone = await say(tapp.client, h, (await new_chat(tapp.client, h))["id"], FOLLOW_UP)
    assert alone["sources"][0]["title"] == WRONG
    assert alone["followup"] is None
    chat = await new_chat(tapp.client, h)
    await say(tapp.client, h, chat["id"], FIRST)
    answer = await say(tapp.client, h, chat["id"], FOLLOW_UP)
    assert answer["followup"] == "rule"
    assert answer["search_query"] == FOLLOW_UP
    assert answer["sources"][0]["title"] == RIGHT
    assert RIGHT in {c["title"] for c in answer["citations"]}
    stored = (await tapp.client.get(f"/api/chats/{chat['id']}", headers=h)).json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[3]["followup"] == "rule"


async def test_search_without_history_is_unchanged(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    await ingest_library(tapp, h)
    body = (await tapp.client.post("/api/search", headers=h, json={"question": FOLLOW_UP})).json()
    assert body["sources"][0]["title"] == WRONG
    assert "followup" not in body and "search_query" not in body


# ---------------------------------------------------------------- with a chat model (the fake provider)


@dataclass
class LiveApp:
    base: str
    fake: FakeProvider
    tapp: TestApp


@pytest.fixture(scope="module")
def live(pg_server: EmbeddedServer, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with a chat model (the fake provider), served over real HTTP on its own database."""
    fake = FakeProvider(seed=3, embedding_dim=DIM)
    with serve_in_thread(create_fake_app(fake)) as fake_url:
        settings = llm_settings(fresh_database(pg_server), tmp_path_factory.mktemp("chats-llm"), fake_url)
        embedder = HashingEmbedder(dim=DIM)
        app = create_app(settings, local_embedder=embedder)
        with serve_in_thread(app) as base:
            # Only TestApp's HTTP helpers are used (ingest, wait_run), with each test's own client.
            tapp = TestApp(app=app, client=httpx.AsyncClient(), settings=settings, embedder=embedder)
            yield LiveApp(base=base, fake=fake, tapp=tapp)


@pytest.fixture
async def live_user(live: LiveApp) -> Any:
    # Each test gets its own client: a module-wide one would outlive the event loop of its first test.
    live.fake.reset()
    uid = "chatter-" + uuid.uuid4().hex[:8]
    token = issue_local_token(live.tapp.settings.auth, live.tapp.settings.local_signing_key_path, uid)
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as client:
        live.tapp.client = client
        yield client, {"Authorization": f"Bearer {token}"}


async def test_a_pronoun_follow_up_is_condensed_by_the_chat_model(live: LiveApp, live_user: Any) -> None:
    client, h = live_user
    await ingest_library(live.tapp, h)
    chat = await new_chat(client, h)
    first = await say(client, h, chat["id"], FIRST)
    assert first["followup"] is None and first["answerer"] == "llm"
    assert live.fake.counters.calls.get("chat:condense", 0) == 0  # nothing to condense yet
    answer = await say(client, h, chat["id"], FOLLOW_UP)
    assert answer["followup"] == "condensed"
    assert answer["search_query"] == "What did Epictetus say about death?"
    assert answer["question"] == FOLLOW_UP
    assert answer["sources"][0]["title"] == RIGHT
    assert RIGHT in {c["title"] for c in answer["citations"]}
    assert live.fake.counters.calls["chat:condense"] == 1
    # The writer saw the conversation; the stored answer keeps who wrote it, the review and versions.
    stored = (await client.get(f"/api/chats/{chat['id']}", headers=h)).json()["messages"][3]
    assert stored["answerer"] == "llm" and stored["review"] == answer["review"]
    assert stored["versions"]["chat_model"] == "fake-chat"
    assert stored["search_query"] == "What did Epictetus say about death?" and stored["followup"] == "condensed"
    assert stored["citations"] == answer["citations"] and stored["tier"] == answer["tier"]
    # The same history and message again: the condensation comes from the cache.
    again = await new_chat(client, h)
    await say(client, h, again["id"], FIRST)
    assert (await say(client, h, again["id"], FOLLOW_UP))["followup"] == "condensed"
    assert live.fake.counters.calls["chat:condense"] == 1


async def test_a_failing_condenser_falls_back_to_the_rule(live: LiveApp, live_user: Any) -> None:
    client, h = live_user
    await ingest_library(live.tapp, h)
    live.fake.update(FaultUpdate(operations={"condense": {"error_rate": 1.0}}))
    chat = await new_chat(client, h)
    await say(client, h, chat["id"], FIRST)
    answer = await say(client, h, chat["id"], "And what did he say about death?")
    assert live.fake.counters.outcomes.get("chat:500", 0) >= 1
    assert answer["followup"] == "rule"
    assert answer["sources"][0]["title"] == RIGHT


async def test_a_stream_cut_early_is_stored_incomplete(live: LiveApp, live_user: Any) -> None:
    client, h = live_user
    await ingest_library(live.tapp, h)
    chat = await new_chat(client, h)
    live.fake.update(FaultUpdate(chat={"token_delay_ms": 300}))
    headers = {**h, "Accept": "text/event-stream"}
    said = ""
    async with client.stream(
        "POST", f"/api/chats/{chat['id']}/messages", headers=headers, json={"content": FIRST}
    ) as resp:
        assert resp.status_code == 200
        name = None
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name == "token":
                said += json.loads(line[5:])["text"]
                break  # the reader closes the tab after the first words
    assert said
    deadline = time.monotonic() + 10
    while True:
        messages = (await client.get(f"/api/chats/{chat['id']}", headers=h)).json()["messages"]
        if messages:
            break
        assert time.monotonic() < deadline, "the incomplete answer was never stored"
        await asyncio.sleep(0.05)
    question, reply = messages
    assert question["content"] == FIRST
    assert reply["complete"] is False
    assert reply["content"].startswith(said.strip())
    assert reply["tier"] == 1 and reply["answerer"] is None and reply["review"] is None
    # Generation stopped with the client: the writer's stream never ran to its end.
    assert live.fake.counters.outcomes.get("chat:stream:200", 0) == 0
