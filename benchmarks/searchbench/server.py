"""The API under test: a real uvicorn server in its own process, serving ``create_app`` over the
benchmark's database, started and stopped by the benchmark."""

from __future__ import annotations

import contextlib
import inspect
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from tomehub.config import Settings
from tomehub.llm.base import Matrix, ProviderUnavailable
from tomehub.llm.fake.embedding import HashingEmbedder
from tomehub.store.embedded import EmbeddedServer

SERVE_FLAG = "--serve"


class UnavailableQueryEmbedder(HashingEmbedder):
    """Passages as usual, but every query embedding fails (a provider that is down): the app answers
    with tier 2 (keyword only)."""

    async def embed(self, texts: list[str], *, timeout_s: float, operation: str, is_query: bool) -> Matrix:
        if is_query:
            raise ProviderUnavailable("benchmark: query embedding switched off")
        return await super().embed(texts, timeout_s=timeout_s, operation=operation, is_query=is_query)


def build_app(settings: Settings, embedder: HashingEmbedder) -> FastAPI:
    """``create_app`` with the given in-process embedder (whichever keyword this revision takes)."""
    from tomehub.main import create_app

    parameters = inspect.signature(create_app).parameters
    keyword = "local_embedder" if "local_embedder" in parameters else "embedder"
    return create_app(settings, run_worker=False, **{keyword: embedder})


def bench_settings(*, database_url: str, data_dir: Path) -> Settings:
    """The app's default settings, pointed at the benchmark database, without the demo library, without
    Redis (no cache shared between the benchmark's server processes: every run starts cold) and without
    the per-user rate limits (a closed loop of one user exceeds 20 searches/s by design)."""
    base: dict[str, object] = {"data_dir": data_dir, "database_url": database_url, "redis_url": None}
    if "rate_limits" in Settings.model_fields:
        base["rate_limits"] = {"enabled": False}
    settings = Settings.model_validate(base)
    return settings.model_copy(update={"server": settings.server.model_copy(update={"demo_on_first_start": False})})


def serve(
    *,
    database_url: str,
    data_dir: Path,
    port: int,
    dim: int,
    model: str,
    version: str,
    keyword: bool,
) -> None:
    """Runs uvicorn like ``tomehub serve`` (INFO logging, uvicorn's own log at warning, no access log),
    with the hashing embedder and without the ingestion worker (nothing is ingested meanwhile)."""
    import uvicorn

    from tomehub.ops.logs import configure_logging

    settings = bench_settings(database_url=database_url, data_dir=data_dir)
    configure_logging(settings.log_level)
    kind = UnavailableQueryEmbedder if keyword else HashingEmbedder
    embedder = kind(dim=dim, model=model, version=version)
    app = build_app(settings, embedder)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def release_workdir(workdir: Path, embedded: EmbeddedServer | None, *, keep: bool) -> None:
    """Ends a benchmark run: stops its embedded PostgreSQL and removes its temp dir, or, with
    ``keep``, says where the dir (data, server logs) stays."""
    if embedded is not None:
        embedded.stop()
    if keep:
        print(f"kept: {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    *,
    script: Path,
    database_url: str,
    data_dir: Path,
    dim: int,
    model: str,
    version: str,
    keyword: bool,
    log: Path,
) -> Iterator[str]:
    """Starts the server process, waits until it answers /api/health, yields its base URL."""
    port = free_port()
    args = [
        sys.executable,
        str(script),
        SERVE_FLAG,
        f"--database-url={database_url}",
        f"--data-dir={data_dir}",
        f"--port={port}",
        f"--dim={dim}",
        f"--model={model}",
        f"--version={version}",
    ]
    if keyword:
        args.append("--keyword-only")
    with log.open("ab") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=sink)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API server exited ({process.returncode}); see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/api/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the API server did not become healthy in {timeout_s:.0f} s; see {log}")
