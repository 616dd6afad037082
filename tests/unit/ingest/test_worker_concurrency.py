"""How many jobs a worker runs at once: I/O-bound work (remote embeddings) in a dedicated worker gets
several; CPU-bound work (the in-process embedder) and the API's own worker get one."""

from __future__ import annotations

from pathlib import Path

from tomehub.config import Settings
from tomehub.main import worker_concurrency


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings.model_validate({"data_dir": tmp_path, **values})


def test_a_dedicated_worker_with_remote_embeddings_runs_four(tmp_path: Path) -> None:
    remote = _settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1")
    assert worker_concurrency(remote, dedicated=True) == 4
    assert worker_concurrency(remote, dedicated=False) == 1


def test_the_in_process_embedder_runs_one(tmp_path: Path) -> None:
    local = _settings(tmp_path)
    assert worker_concurrency(local, dedicated=True) == 1
    # A remote chat model does not make local embedding I/O-bound.
    mixed = _settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm={"ingest_embedding": {"provider": "local"}})
    assert worker_concurrency(mixed, dedicated=True) == 1


def test_the_setting_wins(tmp_path: Path) -> None:
    configured = _settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", ingest={"worker_concurrency": 2})
    assert worker_concurrency(configured, dedicated=True) == 2
    assert worker_concurrency(configured, dedicated=False) == 2
