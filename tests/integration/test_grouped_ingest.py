"""A batch's small files are processed several to a job (ingest/grouped.py): the library they make is
the one the same files make uploaded one by one, a bad file fails alone, a repeated file makes one
item, an item deleted mid-group is cancelled while the rest is indexed, and a group whose embeddings
fail is searchable by keyword and embedded by the retries."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio

from tests.integration.conftest import TestApp, make_settings, serve_test_app, zip_of
from tomehub.ingest import accept, grouped
from tomehub.llm.base import ProviderUnavailable

NOTES = {
    "harbour.md": b"# Harbour lights\n\nThe harbour keeps two lights: a red one on the mole and a green one.",
    "keepers.md": b"# Keepers\n\nKeepers trimmed the wicks, polished the lenses and logged every ship at night.",
    "fog.txt": b"Fog signals sounded every thirty seconds when the harbour lights could not be seen.",
    "copy-of-harbour.md": b"# Harbour lights\n\nThe harbour keeps two lights: a red one on the mole and a green one.",
    "pharos.html": b"<html><head><title>Pharos</title></head><body><p>The Pharos of Alexandria.</p></body></html>",
    "broken.pdf": b"%PDF-1.4 this is not really a pdf",
}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tapp(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    # No worker in the API: each test runs it when its files are queued.
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("data"), ingest={"run_in_api_workers": False, "reembed_on_start": False}
    )
    async with serve_test_app(settings) as app:
        yield app


async def _drain(tapp: TestApp) -> None:
    runtime = tapp.app.state.runtime
    await asyncio.wait_for(runtime.queue.run_worker(runtime.worker_context, concurrency=2, wait=False), 60)


async def _batch(tapp: TestApp, h: dict[str, str], files: dict[str, bytes]) -> str:
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("notes.zip", zip_of(files))})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["run_id"])


async def _unpack(tapp: TestApp, run_id: str) -> None:
    """Records the batch's files and queues their jobs now, as its unpack job would."""
    runtime = tapp.app.state.runtime
    await accept.unpack_batch(
        db=runtime.db, queue=runtime.queue, settings=tapp.settings, originals=runtime.originals, run_id=UUID(run_id)
    )


async def _library(tapp: TestApp, uid: str) -> dict[str, Any]:
    """What a user's library holds, in terms that do not depend on ids or on how it was written."""
    async with tapp.app.state.resources.db.read() as conn:
        user = await (await conn.execute("SELECT id FROM users WHERE uid = %s", (uid,))).fetchone()
        assert user is not None
        params = {"u": user["id"]}
        items = await (
            await conn.execute(
                """SELECT source_filename, title, status, chunk_count, language FROM library_items
                    WHERE user_id = %(u)s AND deleted_at IS NULL ORDER BY source_filename""",
                params,
            )
        ).fetchall()
        dfs = await (
            await conn.execute("SELECT lexeme, df FROM lexeme_df WHERE user_id = %(u)s ORDER BY lexeme", params)
        ).fetchall()
        postings = await (
            await conn.execute(
                "SELECT lexeme, sum(n)::int AS n FROM lexeme_postings WHERE user_id = %(u)s GROUP BY lexeme ORDER BY 1",
                params,
            )
        ).fetchall()
        stats = await (
            await conn.execute(
                "SELECT chunk_count, passage_count, lexeme_total FROM library_stats WHERE user_id = %(u)s", params
            )
        ).fetchone()
        vectors = await (
            await conn.execute(
                "SELECT count(*) FILTER (WHERE embedding IS NULL) AS missing, count(*) AS n FROM chunk_passages "
                "WHERE user_id = %(u)s",
                params,
            )
        ).fetchone()
    return {"items": items, "dfs": dfs, "postings": postings, "stats": stats, "vectors": vectors}


async def _jobs_of(tapp: TestApp, run_id: str) -> list[str]:
    async with tapp.app.state.resources.db.read() as conn:
        rows = await (
            await conn.execute(
                """SELECT DISTINCT j.task_name FROM ingestion_files f JOIN procrastinate_jobs j ON j.id = f.job_id
                    WHERE f.run_id = %s""",
                (run_id,),
            )
        ).fetchall()
    return sorted(r["task_name"] for r in rows)


async def test_a_grouped_batch_makes_the_library_its_files_make_one_by_one(tapp: TestApp) -> None:
    one_by_one, h1 = tapp.new_user()
    for name, data in NOTES.items():
        resp = await tapp.upload(h1, name, data)
        assert resp.status_code == 202, resp.text
    await _drain(tapp)

    grouped_user, h2 = tapp.new_user()
    run_id = await _batch(tapp, h2, NOTES)
    await _unpack(tapp, run_id)
    assert await _jobs_of(tapp, run_id) == ["tomehub.process_files"]  # all six in one job
    await _drain(tapp)
    run = await tapp.wait_run(h2, run_id)

    # The broken file failed alone, with its reason; the rest is indexed and embedded.
    assert (run["files_total"], run["files_done"], run["files_failed"]) == (6, 5, 1), run
    [error] = run["errors"]
    assert error["file"] == "broken.pdf" and error["code"]
    # The copy of harbour.md is the same item (one item, one set of chunks), as when uploaded alone.
    expected, got = await _library(tapp, one_by_one), await _library(tapp, grouped_user)
    assert got == expected
    assert [i["source_filename"] for i in got["items"]] == [
        "broken.pdf",
        "fog.txt",
        "harbour.md",
        "keepers.md",
        "pharos.html",
    ]
    assert got["vectors"]["missing"] == 0 and got["vectors"]["n"] > 0
    # Every passage is counted once in the run: embedded by this run or reused from an identical one.
    assert run["passages_embedded"] + run["passages_reused"] >= got["vectors"]["n"]
    assert run["passages_embedded"] == got["vectors"]["n"]
    body = (await tapp.client.post("/api/smart-search", headers=h2, json={"query": "fog signals"})).json()
    assert body["hits"] and body["hits"][0]["title"] == "fog"


async def test_an_item_deleted_while_its_group_is_parsed_is_cancelled_and_the_rest_indexed(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsing, resume = threading.Event(), threading.Event()
    parse = grouped._parse_and_chunk
    calls = 0

    def slow_last_parse(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:  # the group's last file: the others are parsed, nothing is written yet
            parsing.set()
            resume.wait(10)
        return parse(*args)

    monkeypatch.setattr(grouped, "_parse_and_chunk", slow_last_parse)
    _, h = tapp.new_user()
    notes = {name: NOTES[name] for name in ("harbour.md", "keepers.md", "fog.txt")}
    run_id = await _batch(tapp, h, notes)
    runtime = tapp.app.state.runtime
    worker = asyncio.create_task(runtime.queue.run_worker(runtime.worker_context, concurrency=1))
    try:
        assert await asyncio.to_thread(parsing.wait, 20)
        items = (await tapp.client.get("/api/library/items", headers=h)).json()["items"]
        keepers = next(i for i in items if i["source_filename"] == "keepers.md")
        resp = await tapp.client.delete(f"/api/library/items/{keepers['id']}", headers=h)
        assert resp.status_code == 204, resp.text
        resume.set()
        run = await tapp.wait_run(h, run_id, timeout_s=30)
    finally:
        resume.set()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert (run["files_total"], run["files_done"], run["files_failed"], run["files_skipped"]) == (3, 2, 0, 1), run
    [skip] = run["skipped"]
    assert skip["file"] == "keepers.md" and skip["code"] == "item_deleted"
    async with runtime.db.read() as conn:
        left = await (
            await conn.execute("SELECT count(*) AS n FROM content_chunks WHERE item_id = %s", (keepers["id"],))
        ).fetchone()
    assert left is not None and left["n"] == 0
    titles = sorted(i["title"] for i in (await tapp.client.get("/api/library/items", headers=h)).json()["items"])
    assert titles == ["Harbour lights", "fog"]


async def test_a_group_whose_embeddings_fail_is_found_by_keyword_then_embedded_on_retry(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tapp.app.state.runtime
    monkeypatch.setattr(tapp.settings.ingest, "embedding_retry_initial_s", 0.2)
    embedder = runtime.worker_context.embedder
    embed = embedder.embed_passages
    down = True

    async def flaky(texts: list[str], **kwargs: Any) -> Any:
        if down:
            raise ProviderUnavailable("the embedding provider is down")
        return await embed(texts, **kwargs)

    monkeypatch.setattr(embedder, "embed_passages", flaky)
    uid, h = tapp.new_user()
    notes = {name: NOTES[name] for name in ("harbour.md", "keepers.md", "fog.txt")}
    run_id = await _batch(tapp, h, notes)
    await _unpack(tapp, run_id)
    await _drain(tapp)
    assert await _jobs_of(tapp, run_id) == ["tomehub.embed_file"]  # each file's retry, queued for later
    run = (await tapp.client.get(f"/api/ingest/runs/{run_id}", headers=h)).json()
    assert run["status"] == "running" and "down" in run["embedding_error"], run
    assert run["embedding_retry_at"] is not None and run["passages_pending_embedding"] > 0, run
    # The text is indexed meanwhile: keyword search finds it.
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": "wicks lenses", "expand": False})
    assert resp.status_code == 200, resp.text
    assert any("wicks" in hit["text"] for hit in resp.json()["hits"]), resp.json()

    down = False
    await asyncio.sleep(0.5)  # past the retry time
    await _drain(tapp)
    run = await tapp.wait_run(h, run_id)
    assert (run["status"], run["files_done"], run["files_failed"]) == ("succeeded", 3, 0), run
    assert run["embedding_error"] is None and run["embedding_retry_at"] is None
    assert (await _library(tapp, uid))["vectors"]["missing"] == 0
