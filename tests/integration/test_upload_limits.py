"""Uploads that cannot knock a worker over: cut at the size limit while streaming, cut when they stall,
limited per user, given their own deadline; zips read entry by entry with each bad entry its own error."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator

import pytest
import redis

from tests.integration.conftest import TestApp
from tomehub.ingest.upload_slots import UploadSlots
from tomehub.resilience.deadline import Deadline

BOUNDARY = "tomehub-test-boundary"
MB = 1024 * 1024


def _multipart_head(filename: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()


def _multipart_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def _headers(h: dict[str, str]) -> dict[str, str]:
    return {**h, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def test_an_upload_is_refused_413_as_soon_as_it_passes_the_limit(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tapp.settings.ingest, "max_upload_bytes", 2 * MB)
    _, h = tapp.new_user()
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        # No Content-Length (chunked): only the bytes received can tell the size.
        nonlocal sent
        yield _multipart_head("huge.txt")
        while sent < 200 * MB:
            sent += 256 * 1024
            yield b"word " * (256 * 1024 // 5) + b"w"
        yield _multipart_tail()

    resp = await tapp.client.post("/api/ingest", headers=_headers(h), content=endless())
    assert resp.status_code == 413, resp.text
    assert "2.1 MB" in resp.json()["error"]["message"]
    # Refused while streaming: the client was stopped a little past the limit, not after 200 MB.
    assert sent < 4 * MB


async def test_a_stalled_upload_is_cut_with_408(tapp: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tapp.settings.ingest, "body_read_timeout_s", 0.3)
    _, h = tapp.new_user()

    async def stalls() -> AsyncIterator[bytes]:
        yield _multipart_head("slow.txt")
        yield b"The first bytes arrive, then nothing more."
        await asyncio.sleep(5)
        yield _multipart_tail()

    resp = await tapp.client.post("/api/ingest", headers=_headers(h), content=stalls())
    assert resp.status_code == 408, resp.text
    assert resp.json()["error"]["code"] == "body_timeout"


async def test_a_user_gets_429_past_their_concurrent_uploads_and_others_go_on(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots: UploadSlots = tapp.app.state.upload_slots
    monkeypatch.setattr(slots, "limit", 1)
    _, h = tapp.new_user()
    _, other = tapp.new_user()
    release = asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        yield _multipart_head("first.txt")
        yield b"A note that takes its time to arrive, about rivers. "
        await release.wait()
        yield _multipart_tail()

    first = asyncio.create_task(tapp.client.post("/api/ingest", headers=_headers(h), content=held()))
    for _ in range(100):  # until the first upload holds its slot
        if slots._local or first.done():
            break
        await asyncio.sleep(0.01)
    second = await tapp.upload(h, "second.txt", b"Another note, about lakes.")
    assert second.status_code == 429, second.text
    assert int(second.headers["Retry-After"]) >= 1
    assert "at most 1" in second.json()["error"]["message"]
    assert (await tapp.upload(other, "theirs.txt", b"Someone else's note, about seas.")).status_code == 202
    release.set()
    assert (await first).status_code == 202
    # The slot was given back.
    assert (await tapp.upload(h, "third.txt", b"A third note, about ponds.")).status_code == 202


async def test_upload_slots_are_shared_through_redis_and_expire() -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/14")
    await client.flushdb()
    try:
        one = UploadSlots(limit=1, ttl_s=0.5, redis=client, prefix="test")
        two = UploadSlots(limit=1, ttl_s=0.5, redis=client, prefix="test")  # another worker process
        async with one.hold(7):
            with pytest.raises(Exception, match="uploads in progress"):
                async with two.hold(7):
                    pass
            async with two.hold(8):  # another user
                pass
        async with two.hold(7):  # given back
            pass
        # A worker that died mid-upload leaks nothing past the upload's deadline.
        await client.zadd("test:uploads:9", {"dead-worker": 0})
        async with two.hold(9):
            pass
    finally:
        await client.flushdb()
        await client.aclose()


def test_uploads_get_their_own_deadline_not_the_search_one(tapp: TestApp) -> None:
    from tomehub.ops.requests import RequestContextMiddleware

    seen: dict[str, Deadline] = {}

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen[scope["path"]] = scope["state"]["deadline"]

    middleware = RequestContextMiddleware(app, deadline_s=6.0, upload_deadline_s=900.0)  # type: ignore[arg-type]

    async def call(method: str, path: str) -> None:
        scope = {"type": "http", "method": method, "path": path, "headers": []}
        await middleware(scope, None, None)  # type: ignore[arg-type]

    async def run() -> None:
        await call("POST", "/api/ingest")
        await call("POST", "/api/ingest/batch")
        await call("POST", "/api/smart-search")

    asyncio.run(run())
    assert seen["/api/ingest"].remaining() > 800
    assert seen["/api/ingest/batch"].remaining() > 800
    assert seen["/api/smart-search"].remaining() <= 6


def _mark_encrypted(archive: bytes, name: str) -> bytes:
    """Sets an entry's "encrypted" flag in its local and central headers (zipfile cannot write one)."""
    data = bytearray(archive)
    for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at : at + name_at + len(name)] == name.encode():
                data[at + flags_at] |= 0x1
            at = data.find(signature, at + 4)
    return bytes(data)


def _zip_with(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return out.getvalue()


async def test_bad_zip_entries_fail_alone_and_names_are_sanitised(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    archive = _zip_with(
        [
            ("../../etc/evil.md", b"# Escape\n\nA note whose name tries to climb out of the archive."),
            ("C:\\Users\\me\\win.txt", b"A note named with a Windows drive and backslashes."),
            ("good/fine.txt", b"A perfectly ordinary note about harbours."),
            ("secret.txt", b"ciphertext pretending"),
            ("bomb.txt", b"\0" * (20 * MB)),  # deflates about a thousandfold
            ("corrupt.txt", b"A note whose bytes will be damaged in the archive." * 50),
        ]
    )
    # Damage the last entry's compressed bytes: its CRC no longer matches.
    damaged = bytearray(_mark_encrypted(archive, "secret.txt"))
    at = damaged.find(b"PK\x01\x02")  # central directory: the entries' data lies before it
    damaged[at - 40] ^= 0xFF
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("mixed.zip", bytes(damaged))})
    assert resp.status_code == 202, resp.text
    run = await tapp.wait_run(h, resp.json()["run_id"])
    assert run["files_total"] == 6
    assert run["files_done"] == 3, run["errors"]
    codes = {e["file"]: e["code"] for e in run["errors"]}
    assert codes == {
        "secret.txt": "encrypted_document",
        "bomb.txt": "unsafe_archive_entry",
        "corrupt.txt": "corrupt_document",
    }, run["errors"]
    items = (await tapp.client.get("/api/library/items?limit=50", headers=h)).json()["items"]
    names = {i["source_filename"] for i in items}
    assert {"evil.md", "win.txt", "fine.txt"} <= names
    async with tapp.app.state.resources.db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT filename, data IS NULL AS no_copy FROM ingestion_files WHERE run_id = %s",
                (resp.json()["run_id"],),
            )
        ).fetchall()
    stored = {r["filename"] for r in rows}
    assert {"etc/evil.md", "Users/me/win.txt", "good/fine.txt"} <= stored
    assert not any(".." in name or name.startswith("/") for name in stored)
    # The bytes live in the kept originals, not in the queue's rows.
    assert all(r["no_copy"] for r in rows)


async def test_an_upload_whose_client_goes_away_ends_quietly(tapp: TestApp, caplog: pytest.LogCaptureFixture) -> None:
    """A client that closes its connection mid-upload (a cancelled upload, a closed tab) is not an
    error of ours: no 500, no traceback in the log, nothing recorded."""
    _, h = tapp.new_user()
    headers = [(k.lower().encode(), v.encode()) for k, v in _headers(h).items()]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/ingest", "raw_path": b"/api/ingest", "query_string": b"", "root_path": "",
        "headers": [*headers, (b"host", b"tomehub.test")], "client": ("127.0.0.1", 5000),
        "server": ("tomehub.test", 80),
    }  # fmt: skip
    messages = iter(
        [
            {"type": "http.request", "body": _multipart_head("gone.txt") + b"The first words, then", "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level("INFO"):
        await tapp.app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 499
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert any("client went away" in r.getMessage() for r in caplog.records)
    assert (await tapp.client.get("/api/ingest/runs", headers=h)).json()["runs"] == []
