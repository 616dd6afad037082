"""Deletes win over ingestion: an item deleted while its file waits, is parsed or is embedded gets no
chunk afterwards; its file ends cancelled (no error) and the library's statistics stay exact."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, make_settings
from tests.unit.ingest.test_svg_text import _fixed_layout_epub, _svg_page
from tomehub.ingest import accept, pipeline
from tomehub.library import repo as library_repo
from tomehub.llm.base import Matrix
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app

NOTE = (
    b"# Lighthouses\n\nThe Pharos of Alexandria guided ships into the harbour for centuries. "
    b"Its keepers burned wood and later oil to keep the light.\n"
)
# More passages than one embedding batch: its chunks are written first, then embedded batch by batch.
LONG_NOTE = b"# Keepers\n\n" + b"\n\n".join(
    b"Keeper %d trimmed the wick of lamp %d, polished its lens and logged each ship that passed the rocks "
    b"at night, with its flag, its heading and the weather of the watch. " % (n, n) * 6
    for n in range(40)
)


class GatedEmbedder(HashingEmbedder):
    """Passage embeddings wait at a gate when it is closed: a test can act while a file is embedded."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        if not is_query:
            self.entered.set()
            await self.gate.wait()
        return await super().embed(texts, timeout_s=timeout_s, operation=operation, is_query=is_query)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tapp(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    # The worker is started by each test, so files can wait in the queue as long as a test needs.
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("data"), ingest={"run_in_api_workers": False, "reembed_on_start": False}
    )
    embedder = GatedEmbedder()
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


@pytest.fixture
def gated(tapp: TestApp) -> Iterator[GatedEmbedder]:
    embedder = tapp.embedder
    assert isinstance(embedder, GatedEmbedder)
    embedder.entered.clear()
    yield embedder
    embedder.gate.set()


async def _drain(tapp: TestApp) -> None:
    """Runs the worker until the queue is empty."""
    runtime = tapp.app.state.runtime
    await asyncio.wait_for(runtime.queue.run_worker(runtime.worker_context, concurrency=1, wait=False), 30)


def _background_worker(tapp: TestApp) -> asyncio.Task[None]:
    runtime = tapp.app.state.runtime
    return asyncio.create_task(runtime.queue.run_worker(runtime.worker_context, concurrency=1))


async def _stop(worker: asyncio.Task[None]) -> None:
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)


async def _upload(tapp: TestApp, h: dict[str, str], name: str, data: bytes) -> dict[str, Any]:
    resp = await tapp.upload(h, name, data)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


async def _delete(tapp: TestApp, h: dict[str, str], item_id: str) -> None:
    resp = await tapp.client.delete(f"/api/library/items/{item_id}", headers=h)
    assert resp.status_code == 204, resp.text


async def _leftovers(tapp: TestApp, item_id: str) -> dict[str, Any]:
    """Returns what the database still holds of an item and whether its user's statistics add up."""
    db = tapp.app.state.resources.db
    async with db.read() as conn:
        row = await (
            await conn.execute(
                """SELECT
                     (SELECT count(*) FROM content_chunks c WHERE c.item_id = i.id) AS chunks,
                     (SELECT count(*) FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id
                       WHERE c.item_id = i.id) AS passages,
                     s.chunk_count = (SELECT count(*) FROM content_chunks c WHERE c.user_id = i.user_id)
                       AND s.passage_count = (SELECT count(*) FROM chunk_passages p WHERE p.user_id = i.user_id)
                       AND s.lexeme_total = (SELECT coalesce(sum(lexeme_count), 0) FROM content_chunks c
                                              WHERE c.user_id = i.user_id) AS stats_consistent,
                     (SELECT array_agg(f.status) FROM ingestion_files f WHERE f.item_id = i.id) AS file_statuses
                   FROM library_items i JOIN library_stats s ON s.user_id = i.user_id WHERE i.id = %s""",
                (item_id,),
            )
        ).fetchone()
    assert row is not None
    return dict(row)


def _assert_cancelled(run: dict[str, Any], when: str) -> None:
    assert run["status"] == "succeeded", run
    assert run["errors"] == []
    assert run["files_total"] == 1 and run["files_skipped"] == 1
    assert run["files_done"] == 0 and run["files_failed"] == 0
    assert run["progress"] == 1.0
    [skip] = run["skipped"]
    assert skip["code"] == "item_deleted"
    assert "deleted" in skip["message"] and when in skip["message"]


async def test_an_item_deleted_while_its_file_waits_gets_no_chunk(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    accepted = await _upload(tapp, h, "lighthouses.md", NOTE)
    await _delete(tapp, h, accepted["item_id"])
    await _drain(tapp)
    run = await tapp.wait_run(h, accepted["run_id"])
    _assert_cancelled(run, "before it was processed")
    assert run["chunks_written"] == 0 and run["passages_embedded"] == 0
    left = await _leftovers(tapp, accepted["item_id"])
    assert left["chunks"] == 0 and left["passages"] == 0
    assert left["stats_consistent"]
    assert left["file_statuses"] == ["cancelled"]


async def test_an_item_deleted_while_its_file_is_parsed_gets_no_chunk(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsing, resume = threading.Event(), threading.Event()
    parse = pipeline._parse_and_chunk

    def slow_parse(*args: Any) -> Any:
        parsing.set()
        resume.wait(10)
        return parse(*args)

    monkeypatch.setattr(pipeline, "_parse_and_chunk", slow_parse)
    _, h = tapp.new_user()
    accepted = await _upload(tapp, h, "pharos.md", NOTE)
    worker = _background_worker(tapp)
    try:
        assert await asyncio.to_thread(parsing.wait, 10)
        await _delete(tapp, h, accepted["item_id"])
        resume.set()
        run = await tapp.wait_run(h, accepted["run_id"])
    finally:
        resume.set()
        await _stop(worker)
    _assert_cancelled(run, "before its text was indexed")
    assert run["chunks_written"] == 0
    left = await _leftovers(tapp, accepted["item_id"])
    assert left["chunks"] == 0 and left["passages"] == 0 and left["stats_consistent"]


async def test_an_item_deleted_between_adding_its_chunks_and_indexing_them_gets_no_chunk(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new item's chunks are added before the library's lock is taken; a delete in that window
    # neither waits for them nor deadlocks with them, and they are rolled back.
    added, resume = asyncio.Event(), asyncio.Event()
    add = library_repo.add_chunks

    async def add_then_wait(*args: Any, **kwargs: Any) -> list[int]:
        ids = await add(*args, **kwargs)
        added.set()
        await resume.wait()
        return ids

    monkeypatch.setattr(library_repo, "add_chunks", add_then_wait)
    _, h = tapp.new_user()
    accepted = await _upload(tapp, h, "pharos.md", NOTE)
    worker = _background_worker(tapp)
    try:
        await asyncio.wait_for(added.wait(), 10)
        await asyncio.wait_for(_delete(tapp, h, accepted["item_id"]), 10)
        resume.set()
        run = await tapp.wait_run(h, accepted["run_id"])
    finally:
        resume.set()
        await _stop(worker)
    _assert_cancelled(run, "before its text was indexed")
    assert run["chunks_written"] == 0 and run["passages_embedded"] == 0
    left = await _leftovers(tapp, accepted["item_id"])
    assert left["chunks"] == 0 and left["passages"] == 0 and left["stats_consistent"]


async def test_an_item_deleted_while_its_small_file_is_embedded_gets_no_chunk(
    tapp: TestApp, gated: GatedEmbedder
) -> None:
    _, h = tapp.new_user()
    gated.gate.clear()
    accepted = await _upload(tapp, h, "pharos.md", NOTE)
    worker = _background_worker(tapp)
    try:
        await asyncio.wait_for(gated.entered.wait(), 10)
        # A file of one embedding batch is embedded before anything of it is written.
        assert (await _leftovers(tapp, accepted["item_id"]))["chunks"] == 0
        await _delete(tapp, h, accepted["item_id"])
        gated.gate.set()
        run = await tapp.wait_run(h, accepted["run_id"])
    finally:
        gated.gate.set()
        await _stop(worker)
    _assert_cancelled(run, "before its text was indexed")
    assert run["chunks_written"] == 0 and run["passages_embedded"] == 0
    left = await _leftovers(tapp, accepted["item_id"])
    assert left["chunks"] == 0 and left["passages"] == 0 and left["stats_consistent"]


async def test_an_item_deleted_while_its_file_is_embedded_keeps_nothing(tapp: TestApp, gated: GatedEmbedder) -> None:
    _, h = tapp.new_user()
    gated.gate.clear()
    accepted = await _upload(tapp, h, "keepers.md", LONG_NOTE)
    worker = _background_worker(tapp)
    try:
        await asyncio.wait_for(gated.entered.wait(), 10)
        # The chunks are written and wait for their vectors; the item goes now.
        assert (await _leftovers(tapp, accepted["item_id"]))["chunks"] > 0
        await _delete(tapp, h, accepted["item_id"])
        gated.gate.set()
        run = await tapp.wait_run(h, accepted["run_id"])
    finally:
        gated.gate.set()
        await _stop(worker)
    _assert_cancelled(run, "while it was being embedded")
    assert run["passages_embedded"] == 0  # the vectors computed for the deleted passages landed nowhere
    assert run["passages_pending_embedding"] == 0
    left = await _leftovers(tapp, accepted["item_id"])
    assert left["chunks"] == 0 and left["passages"] == 0 and left["stats_consistent"]
    listed = (await tapp.client.get("/api/library/items", headers=h)).json()["items"]
    assert listed == []


async def test_a_batch_with_a_deleted_file_finishes_with_the_others(tapp: TestApp) -> None:
    import io
    import zipfile

    _, h = tapp.new_user()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("keep.md", NOTE)
        z.writestr("drop.md", NOTE.replace(b"Pharos", b"Lantern"))
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("two.zip", buf.getvalue())})
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    # Unpack the zip (what its job does) so its files wait in the queue, unprocessed.
    runtime = tapp.app.state.runtime
    await accept.unpack_batch(
        db=runtime.db, queue=runtime.queue, settings=tapp.settings, originals=runtime.originals, run_id=UUID(run_id)
    )
    run = (await tapp.client.get(f"/api/ingest/runs/{run_id}", headers=h)).json()
    items = {
        i["source_filename"]: i["id"]
        for i in (await tapp.client.get("/api/library/items", headers=h)).json()["items"]
        if i["id"] in run["item_ids"]
    }
    await _delete(tapp, h, items["drop.md"])
    await _drain(tapp)
    run = await tapp.wait_run(h, run_id)
    assert run["status"] == "succeeded" and run["errors"] == []
    assert (run["files_done"], run["files_failed"], run["files_skipped"]) == (1, 0, 1)
    assert run["skipped"][0]["file"] == "drop.md"
    assert (await _leftovers(tapp, items["keep.md"]))["chunks"] > 0
    assert (await _leftovers(tapp, items["drop.md"]))["chunks"] == 0


async def test_a_fixed_layout_french_epub_ingests_with_its_svg_text(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    pages = [
        _svg_page([["Le", "Petit", "Prince"]], title="Couverture"),
        _svg_page([["Lorsque", "j'avais", "six", "ans,", "j'ai", "vu", "une", "magnifique", "image"]]),
        _svg_page([["dans", "un", "livre", "sur", "la", "Forêt", "Vierge", "qui", "s'appelait"]]),
    ]
    data = _fixed_layout_epub(pages, title="Le Petit Prince", author="Antoine de Saint-Exupéry")
    accepted = await _upload(tapp, h, "petit-prince.epub", data)
    await _drain(tapp)
    run = await tapp.wait_run(h, accepted["run_id"])
    assert run["status"] == "succeeded", run
    item = (await tapp.client.get(f"/api/library/items/{accepted['item_id']}", headers=h)).json()
    assert item["language"] == "french"
    assert item["author"] == "Antoine de Saint-Exupéry"
    chunks = (await tapp.client.get(f"/api/library/items/{accepted['item_id']}/chunks", headers=h)).json()["chunks"]
    text = "\n".join(c["text"] for c in chunks)
    assert "Lorsque j'avais six ans, j'ai vu une magnifique image" in text
    assert "la Forêt Vierge" in text
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "forêt vierge"})).json()
    assert body["hits"] and body["hits"][0]["item_id"] == accepted["item_id"]
