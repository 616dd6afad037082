"""Misconfiguration is loud, never a silent stall: the embedding provider's dimension is checked once
at start-up (the fake provider over real HTTP), and a run whose embeddings keep failing shows the
cause and its next try, then fails the file with that cause."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from typer.testing import CliRunner

from tests.integration.conftest import TestApp, make_settings
from tests.support.servers import free_port, serve_in_thread
from tomehub.cli import app as cli
from tomehub.llm.build import EmbeddingDimensionMismatch, check_embedding_dim
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.llm.fake.server import FakeProvider, create_fake_app
from tomehub.main import create_app

SERVED_DIM = 384


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with serve_in_thread(create_fake_app(FakeProvider(seed=3, embedding_dim=SERVED_DIM))) as url:
        yield url


def remote_settings(database_url: str, data_dir: Path, base_url: str, **llm: Any) -> Any:
    return make_settings(
        database_url,
        data_dir,
        llm_base_url=f"{base_url}/v1",
        llm={"embedding_model": "fake-embedding", "chat_model": "fake-chat", **llm},
    )


async def test_a_dimension_mismatch_stops_the_start_naming_both_numbers_and_the_setting(
    database_url: str, tmp_path: Path, fake_url: str
) -> None:
    settings = remote_settings(database_url, tmp_path, fake_url, embedding_dim=1536)
    with pytest.raises(EmbeddingDimensionMismatch) as caught:
        await check_embedding_dim(settings)
    message = caught.value.message
    assert "384" in message and "1536" in message
    assert "TOMEHUB_LLM__EMBEDDING_DIM=384" in message
    # The app's start-up refuses too, before it opens anything.
    app = create_app(settings, local_embedder=HashingEmbedder(dim=SERVED_DIM))
    with pytest.raises(EmbeddingDimensionMismatch):
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30):
            pass


async def test_matching_dimensions_start(database_url: str, tmp_path: Path, fake_url: str) -> None:
    settings = remote_settings(database_url, tmp_path, fake_url, embedding_dim=SERVED_DIM)
    assert (await check_embedding_dim(settings)).llm.embedding_dim == SERVED_DIM
    # No ingestion worker: this test only starts and stops.
    app = create_app(settings, local_embedder=HashingEmbedder(dim=SERVED_DIM), run_worker=False)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test") as client:
            assert (await client.get("/api/health")).status_code == 200
        assert app.state.runtime.ingest_embedder.dim == SERVED_DIM


async def test_an_unset_dimension_is_taken_from_the_provider(database_url: str, tmp_path: Path, fake_url: str) -> None:
    settings = remote_settings(database_url, tmp_path, fake_url)
    assert "embedding_dim" not in settings.llm.model_fields_set
    assert (await check_embedding_dim(settings)).llm.embedding_dim == SERVED_DIM


async def test_an_unreachable_provider_is_a_warning(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = remote_settings(database_url, tmp_path, f"http://127.0.0.1:{free_port()}", embedding_dim=1536)
    with caplog.at_level(logging.WARNING, logger="tomehub.llm.build"):
        checked = await check_embedding_dim(settings)
    assert checked.llm.embedding_dim == 1536
    assert "did not answer the start-up probe" in caplog.text


def test_serve_prints_the_mismatch_and_exits_without_a_traceback(
    fake_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOMEHUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TOMEHUB_LLM_BASE_URL", f"{fake_url}/v1")
    monkeypatch.setenv("TOMEHUB_LLM__EMBEDDING_DIM", "1536")
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port())])
    assert result.exit_code == 1, result.output
    assert "TOMEHUB_LLM__EMBEDDING_DIM=384" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "pg").exists()  # stopped before the database was started


# --- a run whose embeddings keep failing --------------------------------------------------------

RETRY_ATTEMPTS = 3


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def failing(database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_url: str) -> AsyncIterator[TestApp]:
    settings = remote_settings(
        database_url,
        tmp_path_factory.mktemp("misconf-data"),
        fake_url,
        embedding_dim=SERVED_DIM,
        background_max_attempts=1,
    )
    settings = settings.model_copy(
        update={
            "ingest": settings.ingest.model_copy(
                update={
                    "embedding_retry_max_attempts": RETRY_ATTEMPTS,
                    "embedding_retry_initial_s": 0.5,
                    "embedding_retry_max_s": 1.0,
                    "embedding_give_up_after_s": 60.0,
                }
            )
        }
    )
    embedder = HashingEmbedder(dim=SERVED_DIM)  # only its tokenizer is used: embeddings go to the fake
    app = create_app(settings, local_embedder=embedder)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tomehub.test", timeout=30) as client:
            yield TestApp(app=app, client=client, settings=settings, embedder=embedder)


async def test_failing_embeddings_show_their_cause_and_retry_time_then_fail_the_file(
    failing: TestApp, fake_url: str
) -> None:
    async with httpx.AsyncClient(base_url=fake_url) as control:
        resp = await control.put("/control/faults", json={"operations": {"ingest-embedding": {"error_rate": 1.0}}})
        assert resp.status_code == 200, resp.text
        try:
            _, h = failing.new_user()
            resp = await failing.upload(h, "field-notes.txt", b"The lighthouse keeper trimmed the lamp at dusk.\n" * 40)
            assert resp.status_code == 202, resp.text
            run_id = resp.json()["run_id"]
            retrying: dict[str, Any] | None = None
            deadline = time.monotonic() + 45
            while True:
                run = (await failing.client.get(f"/api/ingest/runs/{run_id}", headers=h)).json()
                if run["status"] == "running" and run["embedding_error"] and retrying is None:
                    retrying = run
                if run["status"] != "running" and run["finished_at"] is not None:
                    break
                assert time.monotonic() < deadline, f"the run is still {run['status']}: {run}"
                await asyncio.sleep(0.05)
        finally:
            await control.post("/control/reset")
    assert retrying is not None, "the run never showed why its embeddings wait"
    assert "500" in retrying["embedding_error"] or "breaker open" in retrying["embedding_error"]
    assert retrying["embedding_retry_at"] is not None
    assert retrying["passages_pending_embedding"] > 0
    assert run["status"] == "failed"
    assert run["files_failed"] == 1
    assert run["embedding_retry_at"] is None
    [error] = run["errors"]
    assert error["code"] == "embedding_failed"
    assert f"{RETRY_ATTEMPTS} attempts" in error["message"]
    assert "embedding provider" in error["message"] or "breaker open" in error["message"]
    item = (await failing.client.get(f"/api/library/items/{run['item_ids'][0]}", headers=h)).json()
    assert item["status"] == "failed"
