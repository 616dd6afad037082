"""The MCP server through the SDK's own client, over both transports: streamable HTTP at /mcp of the
app served over real HTTP (an API key as bearer), and stdio (`python -m tomehub mcp` as a desktop
client starts it). Every tool is called; a failing tool is an error result and the session goes on;
a missing or revoked key is refused."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from tests.integration.conftest import fresh_database, make_settings
from tests.support.servers import serve_in_thread
from tomehub.auth.keys import create_key
from tomehub.auth.tokens import Principal, issue_local_token
from tomehub.config import Settings
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.store.db import Database
from tomehub.store.embedded import EmbeddedServer
from tomehub.store.users import UserDirectory

TOOLS = {"search_library", "ask_library", "get_passages", "list_items", "add_note"}
STOIC_NOTE = "Stoics practised the premeditation of evils every morning, imagining exile and loss."
OTHER_NOTE = "Bob keeps a private note about the premeditation of evils and his garden of roses."


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def _ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


async def _exercise_every_tool(client: Client, *, foreign_chunk_id: int | None = None) -> None:
    """Calls each tool as a model would, checking what comes back; a failing call must leave the
    session working."""
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.input_schema["type"] == "object"
    assert tools["search_library"].input_schema["required"] == ["query"]
    assert tools["search_library"].annotations is not None and tools["search_library"].annotations.read_only_hint
    assert tools["add_note"].annotations is not None and not tools["add_note"].annotations.read_only_hint

    note = _ok(await client.call_tool("add_note", {"text": STOIC_NOTE, "title": "Premeditatio", "tags": ["Stoa"]}))
    assert note["item_type"] == "PERSONAL_NOTE" and note["title"] == "Premeditatio" and note["tags"] == ["stoa"]

    found = _ok(await client.call_tool("search_library", {"query": "premeditation of evils", "limit": 5}))
    (passage,) = [p for p in found["passages"] if p["item_id"] == note["id"]]
    assert passage["title"] == "Premeditatio" and passage["text"] == STOIC_NOTE and passage["chunk_id"] > 0
    assert passage["score"] > 0 and "page" in passage and "chapter" in passage
    filtered = _ok(
        await client.call_tool("search_library", {"query": "premeditation", "item_types": ["BOOK"], "tags": ["stoa"]})
    )
    assert filtered["passages"] == []

    answer = _ok(await client.call_tool("ask_library", {"question": "What did the Stoics practise every morning?"}))
    assert f"[{passage['chunk_id']}]" in answer["answer"]
    assert [c["chunk_id"] for c in answer["citations"]] == [passage["chunk_id"]]
    assert answer["answerer"] == "extractive" and answer["review"] == "quoted"

    ids = [passage["chunk_id"], 987_654_321] + ([foreign_chunk_id] if foreign_chunk_id else [])
    read = _ok(await client.call_tool("get_passages", {"chunk_ids": ids}))
    assert [p["text"] for p in read["passages"]] == [STOIC_NOTE]
    assert read["missing"] == ids[1:]

    items = _ok(await client.call_tool("list_items", {"limit": 1}))
    assert [i["id"] for i in items["items"]] == [note["id"]]
    assert _ok(await client.call_tool("list_items", {"q": "premed", "item_type": "PERSONAL_NOTE"}))["items"]
    assert _ok(await client.call_tool("list_items", {"tag": "nothing-here"}))["items"] == []

    # Tool errors: readable, marked as errors, and the session keeps working.
    blank = await client.call_tool("ask_library", {"question": "   "})
    assert blank.is_error and "blank" in _text(blank) and "bad_input" in _text(blank)
    bad_id = await client.call_tool("get_passages", {"chunk_ids": ["not-a-number"]})
    assert bad_id.is_error and "chunk_ids" in _text(bad_id)
    cursor = await client.call_tool("list_items", {"cursor": "garbage"})
    assert cursor.is_error and "cursor" in _text(cursor)
    too_many = await client.call_tool("list_items", {"limit": 10_000})
    assert too_many.is_error and "at most" in _text(too_many)
    empty_note = await client.call_tool("add_note", {"text": "  "})
    assert empty_note.is_error and "blank" in _text(empty_note)
    unknown = await client.call_tool("delete_everything", {})
    assert unknown.is_error
    assert _ok(await client.call_tool("list_items", {}))["items"]


# ---------------------------------------------------------------- streamable HTTP at /mcp


@dataclass
class Served:
    url: str
    settings: Settings

    def jwt(self, uid: str) -> dict[str, str]:
        token = issue_local_token(self.settings.auth, self.settings.local_signing_key_path, uid)
        return {"Authorization": f"Bearer {token}"}

    def new_key(self, uid: str) -> tuple[int, str]:
        resp = httpx.post(f"{self.url}/api/auth/keys", headers=self.jwt(uid), json={"name": "mcp test"}, timeout=30)
        assert resp.status_code == 201, resp.text
        return int(resp.json()["key"]["id"]), str(resp.json()["secret"])


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = make_settings(database_url, tmp_path_factory.mktemp("mcp-http"))
    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    with serve_in_thread(app) as url:
        yield Served(url=url, settings=settings)


@asynccontextmanager
async def http_client(url: str, key: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_http_every_tool(served: Served) -> None:
    _, bob_key = served.new_key("bob-http")
    async with http_client(served.url, bob_key) as bob:
        bob_note = _ok(await bob.call_tool("add_note", {"text": OTHER_NOTE}))
        bob_chunk = _ok(await bob.call_tool("search_library", {"query": "garden of roses"}))["passages"][0]["chunk_id"]
    assert bob_note["id"]
    _, key = served.new_key("alice-http")
    async with http_client(served.url, key) as client:
        await _exercise_every_tool(client, foreign_chunk_id=bob_chunk)
        # Bob's note is not in Alice's library.
        found = _ok(await client.call_tool("search_library", {"query": "garden of roses premeditation"}))
        assert bob_note["id"] not in {p["item_id"] for p in found["passages"]}


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


async def test_http_refuses_a_missing_or_revoked_key(served: Served) -> None:
    key_id, key = served.new_key("carol-http")
    mcp_headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as raw:
        resp = await raw.post("/mcp", json=INITIALIZE, headers=mcp_headers)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
        resp = await raw.post("/mcp", json=INITIALIZE, headers={**mcp_headers, "Authorization": "Bearer th_nope"})
        assert resp.status_code == 401
        resp = await raw.post("/mcp", json=INITIALIZE, headers={**mcp_headers, "Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text

        async with http_client(served.url, key) as client:
            assert _ok(await client.call_tool("list_items", {}))["items"] == []
            revoked = await raw.delete(f"/api/auth/keys/{key_id}", headers=served.jwt("carol-http"))
            assert revoked.status_code == 204
            # The next request of the same session is refused at once.
            with pytest.raises(MCPError):  # the SDK's error for a refused HTTP request
                await client.call_tool("list_items", {})

        resp = await raw.post("/mcp", json=INITIALIZE, headers={**mcp_headers, "Authorization": f"Bearer {key}"})
        assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]
    # The SDK's own client cannot even start a session without a key.
    with pytest.raises(BaseExceptionGroup) as refused:
        async with http_client(served.url, None) as client:
            await client.list_tools()
    assert refused.group_contains(MCPError)


async def test_the_endpoint_itself_refuses_a_request_without_a_verified_principal() -> None:
    # Whatever the auth middleware covers, /mcp fails closed.
    from tomehub.mcp.http import _SignedInOnly

    reached: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    guard = _SignedInOnly(inner)
    await guard({"type": "http", "path": "/mcp", "headers": [], "state": {}}, receive, send)
    assert not reached and sent[0]["status"] == 401
    principal = Principal(uid="someone", via="api_key")
    await guard({"type": "http", "path": "/mcp", "headers": [], "state": {"principal": principal}}, receive, send)
    assert reached == [True]


async def test_http_serves_again_in_a_second_lifespan_of_the_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The SDK's session manager runs once; the endpoint takes a new one for every run of the app.
    settings = make_settings(database_url, tmp_path_factory.mktemp("mcp-twice"))
    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    for _ in range(2):
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client,
        ):
            token = issue_local_token(settings.auth, settings.local_signing_key_path, "erin-http")
            headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}
            resp = await client.post("/mcp", json=INITIALIZE, headers=headers)
            assert resp.status_code == 200, resp.text
            assert resp.json()["result"]["serverInfo"]["name"] == "tomehub"


# ---------------------------------------------------------------- stdio: `python -m tomehub mcp`


@dataclass
class StdioSetup:
    database_url: str
    data_dir: Path

    def env(self, key: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOMEHUB_")}
        env.update(
            TOMEHUB_ENV="test",
            TOMEHUB_DATA_DIR=str(self.data_dir),
            TOMEHUB_DATABASE_URL=self.database_url,
        )
        if key is not None:
            env["TOMEHUB_API_KEY"] = key
        return env


@pytest.fixture(scope="module")
def stdio_setup(pg_server: EmbeddedServer, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> StdioSetup:
    return StdioSetup(database_url=fresh_database(pg_server), data_dir=tmp_path_factory.mktemp("mcp-stdio"))


async def _new_key(database_url: str, uid: str) -> str:
    settings = Settings()
    db = Database(database_url, settings.database, settings.search)
    await db.open()
    try:
        user_id = await UserDirectory(db).user_id(uid)
        _, secret = await create_key(db=db, user_id=user_id, name="stdio test")
        return secret
    finally:
        await db.close()


def _revoke(database_url: str, key: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE prefix = %s", (key.split("_")[1],))


def _stdio_params(setup: StdioSetup, key: str | None) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "tomehub", "mcp"], env=setup.env(key))


async def test_stdio_every_tool(stdio_setup: StdioSetup) -> None:
    key = await _new_key(stdio_setup.database_url, "alice-stdio")
    async with asyncio.timeout(240), Client(_stdio_params(stdio_setup, key)) as client:
        assert client.server_info is not None and client.server_info.name == "tomehub"
        await _exercise_every_tool(client)
        # Its use is recorded as the API records it (the settings page shows it).
        with psycopg.connect(stdio_setup.database_url) as conn:
            used = conn.execute("SELECT last_used_at FROM api_keys WHERE prefix = %s", (key.split("_")[1],)).fetchone()
        assert used is not None and used[0] is not None
        # The key is looked up on every call: revoking it stops the running session at once.
        await asyncio.to_thread(_revoke, stdio_setup.database_url, key)
        refused = await client.call_tool("list_items", {})
        assert refused.is_error and "revoked" in _text(refused)


def _run_mcp(setup: StdioSetup, *args: str, key: str | None) -> subprocess.CompletedProcess[str]:
    initialize = json.dumps(INITIALIZE) + "\n"
    return subprocess.run(
        [sys.executable, "-m", "tomehub", "mcp", *args],
        input=initialize,
        capture_output=True,
        text=True,
        env=setup.env(key),
        timeout=240,
        check=False,
    )


async def test_stdio_refuses_a_missing_bad_or_revoked_key(stdio_setup: StdioSetup) -> None:
    result = await asyncio.to_thread(_run_mcp, stdio_setup, key=None)
    assert result.returncode == 2 and "API key" in result.stderr and result.stdout == ""

    result = await asyncio.to_thread(_run_mcp, stdio_setup, "--api-key", "hunter2", key=None)
    assert result.returncode == 2 and "not a TomeHub API key" in result.stderr and result.stdout == ""

    unknown = "th_abcdefgh_" + "x" * 43
    result = await asyncio.to_thread(_run_mcp, stdio_setup, key=unknown)
    assert result.returncode == 2 and "not valid" in result.stderr and result.stdout == ""

    key = await _new_key(stdio_setup.database_url, "dave-stdio")
    await asyncio.to_thread(_revoke, stdio_setup.database_url, key)
    result = await asyncio.to_thread(_run_mcp, stdio_setup, key=key)
    assert result.returncode == 2 and "revoked" in result.stderr and result.stdout == ""
