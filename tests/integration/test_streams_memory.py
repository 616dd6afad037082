"""Streams and memory over a real connection: a client that stops reading is dropped and its
generation cancelled, streams are capped per worker, memory pressure sheds streams and uploads."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.integration.conftest import make_settings
from tests.support.servers import serve_in_thread
from tomehub.answer.base import AnswerContext
from tomehub.auth.tokens import issue_local_token
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app
from tomehub.resilience.deadline import Deadline


class Endless:
    """An answerer that writes for ever, 4 KB at a time, and notes when it is stopped."""

    name = "extractive"

    def __init__(self) -> None:
        self.pieces = 0
        self.cancelled = False

    async def stream(self, context: AnswerContext, *, deadline: Deadline) -> AsyncIterator[str]:
        try:
            while True:
                self.pieces += 1
                yield "x" * 4096 + " "
                await asyncio.sleep(0)
        finally:
            self.cancelled = True


def serve(database_url: str, data_dir: Path, **server: object):  # type: ignore[no-untyped-def]
    settings = make_settings(database_url, data_dir, server={"demo_on_first_start": False, **server})
    app = create_app(settings, local_embedder=HashingEmbedder(dim=32))
    return app, settings


async def _seed(client: httpx.AsyncClient, h: dict[str, str]) -> None:
    resp = await client.post(
        "/api/add-item", headers=h, json={"text": "Streams of text about rivers and their deltas."}
    )
    assert resp.status_code == 201


async def test_a_client_that_stops_reading_is_dropped_and_its_generation_cancelled(
    database_url: str, tmp_path: Path
) -> None:
    app, settings = serve(database_url, tmp_path, stream_send_timeout_s=1.0)
    with serve_in_thread(app) as base:
        endless = Endless()
        app.state.answers.extractive = endless
        h = {"Authorization": "Bearer " + issue_local_token(settings.auth, settings.local_signing_key_path, "slow")}
        async with httpx.AsyncClient(base_url=base) as client:
            await _seed(client, h)
        port = int(base.rsplit(":", 1)[1])
        body = b'{"question": "rivers"}'
        request = (
            b"POST /api/search HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\n"
            + f"Authorization: {h['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow mobile reader
        sock.sendall(request)
        sock.recv(512)  # the stream opened; then the client stops reading
        deadline = time.monotonic() + 20
        while not endless.cancelled:
            assert time.monotonic() < deadline, f"still writing after {endless.pieces} pieces"
            await asyncio.sleep(0.1)
        sock.close()
        while app.state.stream_gate.open:
            assert time.monotonic() < deadline, "the stream's slot was never freed"
            await asyncio.sleep(0.05)
        # Flow control bounded what was produced for the stuck reader: a few socket buffers, not the stream.
        assert endless.pieces * 4096 < 16 * 1024 * 1024


async def test_streams_are_capped_per_worker(database_url: str, tmp_path: Path) -> None:
    app, settings = serve(database_url, tmp_path, max_streams=1)
    with serve_in_thread(app) as base:
        app.state.answers.extractive = Endless()
        h = {"Authorization": "Bearer " + issue_local_token(settings.auth, settings.local_signing_key_path, "cap")}
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await _seed(client, h)
            headers = {**h, "Accept": "text/event-stream"}
            async with client.stream("POST", "/api/search", headers=headers, json={"question": "rivers"}) as first:
                assert first.status_code == 200
                second = await client.post("/api/search", headers=headers, json={"question": "rivers"})
                assert second.status_code == 503
                assert second.json()["error"]["code"] == "too_many_streams"
                assert second.headers["retry-after"] == "1"
                search = await client.post("/api/smart-search", headers=h, json={"query": "rivers"})
                assert search.status_code == 200  # other requests are not streams


async def test_memory_pressure_sheds_streams_and_uploads_but_serves_search(database_url: str, tmp_path: Path) -> None:
    app, settings = serve(database_url, tmp_path, memory_soft_limit_mb=1, memory_hard_limit_mb=100_000)
    with serve_in_thread(app) as base:
        h = {"Authorization": "Bearer " + issue_local_token(settings.auth, settings.local_signing_key_path, "mem")}
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await _seed(client, h)
            memory = (await client.get("/api/health/memory")).json()
            assert memory["state"] == "soft"
            assert memory["rss_bytes"] > memory["soft_limit_bytes"]
            stream = await client.post(
                "/api/search", headers={**h, "Accept": "text/event-stream"}, json={"question": "rivers"}
            )
            assert stream.status_code == 503
            upload = await client.post("/api/ingest", headers=h, files={"file": ("a.txt", b"some text " * 20)})
            assert upload.status_code == 503
            assert upload.headers["retry-after"] == "2"  # memory frees slower than a slot
            assert (await client.post("/api/smart-search", headers=h, json={"query": "rivers"})).status_code == 200
