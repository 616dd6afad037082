"""Kept originals against the real database: the file route, ranges, sharing, deletes, and the S3 store."""

from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.conftest import TestApp, fresh_database, make_settings, serve_test_app
from tests.support.documents import make_pdf
from tomehub.store.embedded import EmbeddedServer
from tomehub.store.originals import LocalOriginals, S3Originals


def _original_path(tapp: TestApp, data: bytes) -> Path:
    store = tapp.app.state.originals
    assert isinstance(store, LocalOriginals)
    return store.local_path(hashlib.sha256(data).hexdigest())


async def test_upload_keeps_the_file_and_serves_it_with_ranges(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    pdf = make_pdf(["First page about Spinoza.", "Second page about Leibniz."])
    done = await tapp.ingest(h, "Éthique — notes.pdf", pdf)
    path = f"/api/library/items/{done['item_id']}/file"
    resp = await tapp.client.get(path, headers=h)
    assert resp.status_code == 200
    assert resp.content == pdf
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == "inline; filename*=UTF-8''%C3%89thique%20%E2%80%94%20notes.pdf"
    etag = resp.headers["etag"]
    assert etag == f'"{hashlib.sha256(pdf).hexdigest()}"'
    assert resp.headers["accept-ranges"] == "bytes"

    part = await tapp.client.get(path, headers={**h, "Range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == pdf[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(pdf)}"
    tail = await tapp.client.get(path, headers={**h, "Range": "bytes=-20"})
    assert tail.status_code == 206 and tail.content == pdf[-20:]
    # An If-Range naming another version gets the whole (current) file instead of a range.
    stale = await tapp.client.get(path, headers={**h, "Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == pdf
    fresh = await tapp.client.get(path, headers={**h, "Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == pdf[:10]
    beyond = await tapp.client.get(path, headers={**h, "Range": f"bytes={len(pdf) + 10}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(pdf)}"


async def test_batch_entries_are_kept_too(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    text = b"# Zipped\n\nA markdown file that came in a zip archive, kept as it was.\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes/zipped.md", text)
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("batch.zip", buf.getvalue())})
    assert resp.status_code == 202, resp.text
    run = await tapp.wait_run(h, resp.json()["run_id"])
    item_id = run["item_ids"][0]
    got = await tapp.client.get(f"/api/library/items/{item_id}/file", headers=h)
    assert got.status_code == 200 and got.content == text
    assert got.headers["content-type"].startswith("text/markdown")
    assert got.headers["content-security-policy"].startswith("sandbox")


async def test_shared_file_is_stored_once_and_removed_with_its_last_item(tapp: TestApp) -> None:
    _, alice = tapp.new_user()
    _, bob = tapp.new_user()
    pdf = make_pdf(["A file two people both own, about Hume's fork."])
    a = await tapp.ingest(alice, "hume.pdf", pdf)
    b = await tapp.ingest(bob, "hume-copy.pdf", pdf)
    stored = _original_path(tapp, pdf)
    assert stored.read_bytes() == pdf
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # one copy, no leftover temp files

    # Bob cannot read Alice's item, even though he owns the same bytes.
    assert (await tapp.client.get(f"/api/library/items/{a['item_id']}/file", headers=bob)).status_code == 404

    assert (await tapp.client.delete(f"/api/library/items/{a['item_id']}", headers=alice)).status_code == 204
    assert stored.exists()
    assert (await tapp.client.get(f"/api/library/items/{a['item_id']}/file", headers=alice)).status_code == 404
    assert (await tapp.client.get(f"/api/library/items/{b['item_id']}/file", headers=bob)).content == pdf

    resp = await tapp.client.post("/api/library/items/delete", headers=bob, json={"ids": [b["item_id"]]})
    assert resp.json()["deleted"] == [b["item_id"]]
    assert not stored.exists()


async def test_items_without_a_kept_file_are_not_found(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    note = await tapp.client.post("/api/add-item", headers=h, json={"text": "A typed note, no file behind it."})
    assert note.status_code == 201
    resp = await tapp.client.get(f"/api/library/items/{note.json()['id']}/file", headers=h)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"

    pdf = make_pdf(["An original that went missing from the store."])
    done = await tapp.ingest(h, "gone.pdf", pdf)
    _original_path(tapp, pdf).unlink()
    assert (await tapp.client.get(f"/api/library/items/{done['item_id']}/file", headers=h)).status_code == 404


# ---- the S3 store, against a local moto server ----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    pytest.importorskip("obstore")
    server_mod = pytest.importorskip("moto.server")
    import boto3

    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket="originals")
    yield endpoint
    server.stop()


def _s3_options(endpoint: str) -> dict[str, Any]:
    return {
        "originals_url": "s3://originals/tomehub",
        "originals_s3_endpoint": endpoint,
        "originals_s3_region": "us-east-1",
        "originals_s3_access_key_id": "test",
        "originals_s3_secret_access_key": "test",
    }


async def test_s3_store_puts_reads_ranges_and_deletes(s3_endpoint: str) -> None:
    store = S3Originals(
        "s3://originals/unit",
        endpoint=s3_endpoint,
        region="us-east-1",
        config={"access_key_id": "test", "secret_access_key": "test"},
    )
    data = bytes(range(256)) * 2000
    digest = hashlib.sha256(data).hexdigest()
    assert await store.size(digest) is None
    await store.put(digest, data)
    await store.put(digest, data)  # idempotent
    assert await store.size(digest) == len(data)
    assert await store.read_range(digest, 1000, 1100) == data[1000:1100]
    assert b"".join([part async for part in store.stream(digest, 5, len(data))]) == data[5:]
    async with store.local_copy(digest) as first:
        assert first.read_bytes() == data
    async with store.local_copy(digest) as again:
        assert again == first  # downloaded once, kept for the next use
    await store.delete(digest)
    assert not first.exists()  # the copy goes with the file
    await store.delete(digest)
    assert await store.size(digest) is None


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def s3_app(
    pg_server: EmbeddedServer, template_url: str, tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str
) -> AsyncIterator[TestApp]:
    # A database of its own: the module's other app (the local store) would otherwise take this
    # app's queued files and look for their originals in the wrong store.
    database_url = fresh_database(pg_server)
    settings = make_settings(database_url, tmp_path_factory.mktemp("s3data"), **_s3_options(s3_endpoint))
    async with serve_test_app(settings) as app:
        yield app


async def test_upload_through_the_app_with_the_s3_store(s3_app: TestApp) -> None:
    _, h = s3_app.new_user()
    pdf = make_pdf(["Kept in a bucket: a page about Zeno's paradoxes."])
    done = await s3_app.ingest(h, "zeno.pdf", pdf)
    store = s3_app.app.state.originals
    assert isinstance(store, S3Originals)
    digest = hashlib.sha256(pdf).hexdigest()
    assert await store.size(digest) == len(pdf)
    path = f"/api/library/items/{done['item_id']}/file"
    whole = await s3_app.client.get(path, headers=h)
    assert whole.status_code == 200 and whole.content == pdf
    assert whole.headers["content-type"] == "application/pdf"
    part = await s3_app.client.get(path, headers={**h, "Range": "bytes=5-24"})
    assert part.status_code == 206 and part.content == pdf[5:25]
    assert part.headers["content-range"] == f"bytes 5-24/{len(pdf)}"
    assert (await s3_app.client.get(path, headers={**h, "Range": "bytes=999999-"})).status_code == 416
    assert (await s3_app.client.delete(f"/api/library/items/{done['item_id']}", headers=h)).status_code == 204
    assert await store.size(digest) is None


async def test_a_batch_through_the_s3_store_is_unpacked_and_its_zip_removed(s3_app: TestApp) -> None:
    import io
    import zipfile

    _, h = s3_app.new_user()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for i in range(3):
            archive.writestr(f"bucket-{i}.md", f"# Bucket {i}\n\nA note kept in an object store, number {i}.")
    data = buf.getvalue()
    resp = await s3_app.client.post("/api/ingest/batch", headers=h, files={"file": ("bucket.zip", data)})
    assert resp.status_code == 202, resp.text
    run = await s3_app.wait_run(h, resp.json()["run_id"], timeout_s=30)
    assert (run["files_total"], run["files_done"]) == (3, 3), run
    # The zip waited in the bucket only until it was unpacked.
    assert await s3_app.app.state.originals.size(hashlib.sha256(data).hexdigest()) is None
