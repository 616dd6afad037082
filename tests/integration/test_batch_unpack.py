"""A batch zip is answered once kept, then unpacked by a job in parts: resumable, fair, and never
left running when its zip is gone."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager

from tests.integration.conftest import TestApp, make_settings
from tomehub.ingest import accept
from tomehub.ingest.archive import ZipBatch
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.main import create_app


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tapp(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestApp]:
    # No worker: each test runs the unpacking itself, part by part.
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("data"), ingest={"run_in_api_workers": False, "unpack_batch_files": 2}
    )
    app = create_app(settings, local_embedder=HashingEmbedder(dim=64))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=HashingEmbedder(dim=64))


def _zip(n: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i in range(n):
            archive.writestr(f"notes/note-{i}.md", f"# Note {i}\n\nAbout harbour number {i} and its lights.")
    return out.getvalue()


async def _files(tapp: TestApp, run_id: str) -> list[str]:
    async with tapp.app.state.resources.db.read() as conn:
        rows = await (
            await conn.execute("SELECT filename FROM ingestion_files WHERE run_id = %s ORDER BY filename", (run_id,))
        ).fetchall()
    return [r["filename"] for r in rows]


async def _unpack(tapp: TestApp, run_id: str) -> None:
    runtime = tapp.app.state.runtime
    await accept.unpack_batch(
        db=runtime.db, queue=runtime.queue, settings=tapp.settings, originals=runtime.originals, run_id=UUID(run_id)
    )


async def test_a_batch_is_answered_at_once_and_unpacked_in_resumable_parts(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("five.zip", _zip(5))})
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    assert resp.json()["files"] == 5
    assert await _files(tapp, run_id) == []  # nothing recorded yet: the answer did not wait for it
    run = (await tapp.client.get(f"/api/ingest/runs/{run_id}", headers=h)).json()
    assert run["files_total"] == 5 and run["finished_at"] is None
    await _unpack(tapp, run_id)
    assert len(await _files(tapp, run_id)) == 2  # one part (unpack_batch_files = 2)
    await _unpack(tapp, run_id)
    await _unpack(tapp, run_id)
    assert await _files(tapp, run_id) == [f"notes/note-{i}.md" for i in range(5)]  # each entry once
    await _unpack(tapp, run_id)  # unpacked already: nothing more
    assert len(await _files(tapp, run_id)) == 5
    # A part's small files share one job (ingest/grouped.py), queued behind the files recorded before
    # them; a part of one file gets a job of its own.
    async with tapp.app.state.resources.db.read() as conn:
        jobs = await (
            await conn.execute(
                """SELECT f.filename, j.task_name, j.priority, j.args, f.id::text AS file
                     FROM ingestion_files f JOIN procrastinate_jobs j ON j.id = f.job_id
                    WHERE f.run_id = %s ORDER BY f.filename""",
                (run_id,),
            )
        ).fetchall()
    group, single = "tomehub.process_files", "tomehub.process_file"
    assert [(j["task_name"], j["priority"]) for j in jobs] == [(group, 0)] * 2 + [(group, -2)] * 2 + [(single, -4)]
    assert all(j["file"] in j["args"]["file_ids"] for j in jobs[:4]) and jobs[4]["args"]["file_id"] == jobs[4]["file"]
    # The zip was only waiting to be unpacked: it is gone from the originals now.
    async with tapp.app.state.resources.db.read() as conn:
        row = await (await conn.execute("SELECT batch FROM ingestion_runs WHERE id = %s", (run_id,))).fetchone()
    assert row is not None and row["batch"] is None
    await tapp.app.state.runtime.queue.run_worker(tapp.app.state.runtime.worker_context, concurrency=1, wait=False)
    done = await tapp.wait_run(h, run_id)
    assert done["status"] == "succeeded" and done["files_done"] == 5


async def test_a_batch_whose_zip_is_gone_ends_with_what_was_recorded(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("three.zip", _zip(3))})
    run_id = resp.json()["run_id"]
    await _unpack(tapp, run_id)  # two of three recorded
    async with tapp.app.state.resources.db.read() as conn:
        row = await (await conn.execute("SELECT batch FROM ingestion_runs WHERE id = %s", (run_id,))).fetchone()
    assert row is not None
    await tapp.app.state.runtime.originals.delete(row["batch"]["sha256"])
    with pytest.raises(FileNotFoundError):
        await _unpack(tapp, run_id)
    await accept.abandon_batch(db=tapp.app.state.runtime.db, run_id=UUID(run_id), cause=FileNotFoundError("gone"))
    await tapp.app.state.runtime.queue.run_worker(tapp.app.state.runtime.worker_context, concurrency=1, wait=False)
    run = await tapp.wait_run(h, run_id)
    assert (run["files_total"], run["files_done"], run["files_failed"]) == (3, 2, 1), run
    assert run["errors"][0]["file"] == "three.zip"
    assert "2 of its files were recorded" in run["errors"][0]["message"]


async def test_a_zip_is_opened_once_for_all_its_parts_unless_another_process_recorded_some(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[_CountingZip] = []

    class _CountingZip(ZipBatch):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.closed = False
            opened.append(self)

        def close(self) -> None:
            self.closed = True
            super().close()

    _, h = tapp.new_user()
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("seven.zip", _zip(7))})
    run_id = resp.json()["run_id"]
    monkeypatch.setattr(accept, "ZipBatch", _CountingZip)
    await _unpack(tapp, run_id)
    await _unpack(tapp, run_id)
    assert len(await _files(tapp, run_id)) == 4 and len(opened) == 1  # the second part reused the open zip
    # The third part runs in "another process": without this one's open zip, it opens its own.
    stale = accept._OPEN_BATCHES.take(UUID(run_id))
    assert stale is not None
    await _unpack(tapp, run_id)
    assert len(await _files(tapp, run_id)) == 6 and len(opened) == 2
    # Back here, the zip kept since the second part no longer knows where the run stands: opened again.
    accept._OPEN_BATCHES.keep(UUID(run_id), stale)
    await _unpack(tapp, run_id)
    assert len(opened) == 3
    assert await _files(tapp, run_id) == [f"notes/note-{i}.md" for i in range(7)]  # each entry once
    assert all(z.closed for z in opened)  # the last part closed its zip, and the stale ones were closed
    assert accept._OPEN_BATCHES.take(UUID(run_id)) is None
