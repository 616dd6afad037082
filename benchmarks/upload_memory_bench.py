"""Upload memory benchmark of TomeHub (run by hand, never in CI; prints its figures and writes them as
Markdown): the resident memory of every server process while a 1 GiB zip of 20,000 documents is
uploaded to ``POST /api/ingest/batch`` — the requirement is growth ≤ 100 MB per process, measured,
not assumed.

Run from the repository root::

    .venv/bin/python benchmarks/upload_memory_bench.py                          # 20,000 files, ~1 GiB
    .venv/bin/python benchmarks/upload_memory_bench.py --files 500 --total-mb 25 --out /tmp/upload.md

Options: ``--files 20000``, ``--total-mb 1016`` (MiB of documents; the zip adds ~150 bytes a file, so
the default stays under the server's 1 GiB ``ingest.max_batch_upload_bytes``), ``--worker-seconds 60``
(then a separate ``tomehub worker`` processes the run for that long, sampled too; 0 skips it),
``--interval 0.2`` (seconds between samples), ``--limit-mb 100``, ``--seed 0``, ``--keep``,
``--out benchmarks/results/upload_memory_bench.md``.

The set-up, each part its own process on 127.0.0.1:

* the zip: written to a temp dir entry by entry (``ZIP_STORED``: the upload itself is the full size;
  deflate would shrink these words ~3x), never held in memory. Each entry is a distinct document,
  ``.md`` and ``.txt`` alternating: a numbered title, then paragraphs of the search benchmark's
  English bigram model (``searchbench.corpus``: real words at a Zipf-like frequency) in a random order;
* PostgreSQL: a fresh embedded server in the temp dir (its processes are sampled too);
* the fake provider (``tomehub fake-llm``) as every model, so that start-up loads no local model;
* TomeHub: ``tomehub serve`` with ``TOMEHUB_INGEST__RUN_IN_API_WORKERS=false``: the API process only
  receives the upload and queues the files, so its figure is the upload path's alone. After the 202,
  with ``--worker-seconds``, one ``tomehub worker`` parses, chunks and embeds the run's files.

Measured: the RSS of the API process and its children, of the worker and its children, and of every
PostgreSQL process, sampled every ``--interval`` seconds from before the upload (the baseline: the last
sample before it) to the end. A PostgreSQL process's RSS also counts the pages of the shared buffer
pool it has touched (up to ``shared_buffers``, a fixed cache), so PostgreSQL is judged by its private
memory (RSS less file-backed and shared pages, /proc's RssAnon); TomeHub's processes by their RSS.
The client streams the file from disk (httpx reads an open file in 64 KiB chunks) and polls
``GET /api/ingest/runs/{id}`` for the run's status.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from followup_bench import DIM, app_environment, process, tomehub_command
from searchbench.corpus import BigramModel, english_texts
from searchbench.report import CpuWitness, Table, written_report
from searchbench.server import free_port, release_workdir
from tomehub.auth.tokens import issue_local_token
from tomehub.config import Settings
from tomehub.store.embedded import EmbeddedServer, start_embedded
from tomehub.store.migrate import apply_migrations

REPO = Path(__file__).resolve().parents[1]
USER = "bench-upload"
MB = 1_000_000
MIB = 1024 * 1024
# Paragraphs drawn from the bigram model once; every document is a random order of some of them.
PARAGRAPHS = 3000
PARAGRAPH_WORDS = (60, 160)
TERMINAL = ("succeeded", "completed_with_errors", "failed")


# ------------------------------------------------------------------ the zip


def write_zip(path: Path, *, files: int, total_bytes: int, seed: int) -> int:
    """Writes ``files`` distinct documents of ``total_bytes`` in all to a stored zip, one entry at a time
    (only one document is ever in memory); returns the zip's size."""
    rng = random.Random(seed)
    model = BigramModel(english_texts())
    pool = [
        " ".join(model.sentence(rng, rng.randint(*PARAGRAPH_WORDS)))
        for _ in range(PARAGRAPHS)
    ]  # fmt: skip
    per_file = total_bytes // files
    started = time.perf_counter()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for number in range(files):
            suffix = "md" if number % 2 == 0 else "txt"
            title = f"Reading notes {number:05d}: {' '.join(model.sentence(rng, 8))}"
            parts = [f"# {title}" if suffix == "md" else title]
            size = len(parts[0]) + 2
            while size < per_file:
                paragraph = rng.choice(pool)
                parts.append(paragraph)
                size += len(paragraph.encode()) + 2
            archive.writestr(f"notes/{number // 1000:02d}/note-{number:05d}.{suffix}", "\n\n".join(parts) + "\n")
            if number % 500 == 499 or number == files - 1:
                print(f"\r  zip: {number + 1:,}/{files:,} files", end="", file=sys.stderr, flush=True)
    print(f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return path.stat().st_size


class TimedFile(io.FileIO):
    """The zip as httpx reads it: notes when the last byte was handed over (the upload's body sent).
    A real file (``fileno``), so httpx sends a Content-Length instead of chunks."""

    sent_at: float | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if not data and self.sent_at is None:
            self.sent_at = time.perf_counter()
        return data


# ------------------------------------------------------------------ memory


@dataclass
class Seen:
    """One process's memory over the run (bytes)."""

    group: str
    pid: int
    name: str
    baseline_rss: int
    baseline_private: int
    peak_rss: dict[str, int] = field(default_factory=dict)  # per phase
    peak_private: dict[str, int] = field(default_factory=dict)

    def growth(self, private: bool) -> int:
        peaks = (self.peak_private if private else self.peak_rss).values()
        return max(peaks, default=0) - (self.baseline_private if private else self.baseline_rss)


class Sampler:
    """Samples the RSS of process trees every ``interval`` seconds in a thread. The phase names the
    part of the run a peak belongs to; the baseline is a process's last sample in phase ``baseline``
    (its first sample, for a process that started later)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.phase = "baseline"
        self.roots: dict[str, int] = {}
        self.seen: dict[int, Seen] = {}
        self.peak_total = 0
        self.samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, group: str, pid: int) -> None:
        with self._lock:
            self.roots[group] = pid

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))

    def sample(self) -> None:
        with self._lock:
            roots = dict(self.roots)
            total = 0
            for group, pid in roots.items():
                for proc in _tree(pid):
                    # A process may end between listing and reading; it simply has no sample now.
                    with contextlib.suppress(psutil.Error):
                        memory = proc.memory_info()
                        rss, private = memory.rss, memory.rss - memory.shared
                        total += rss
                        self._record(group, proc, rss, private)
            self.peak_total = max(self.peak_total, total)
            self.samples += 1

    def _record(self, group: str, proc: psutil.Process, rss: int, private: int) -> None:
        seen = self.seen.get(proc.pid)
        if seen is None:
            seen = self.seen[proc.pid] = Seen(group, proc.pid, _name(proc), rss, private)
        if self.phase == "baseline":
            seen.baseline_rss, seen.baseline_private = rss, private
            return
        seen.peak_rss[self.phase] = max(seen.peak_rss.get(self.phase, 0), rss)
        seen.peak_private[self.phase] = max(seen.peak_private.get(self.phase, 0), private)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _name(proc: psutil.Process) -> str:
    try:
        words = proc.cmdline()
    except psutil.Error:
        return "?"
    if words[:2] == [sys.executable, "-m"]:
        words = words[2:]  # "tomehub serve --port=…"
    elif words and "/" in words[0]:
        words = [Path(words[0]).name, *words[1:]]  # the postmaster: "postgres -D /tmp/…"
    return " ".join(words)[:60] or proc.name()


def child_pid(subcommand: str) -> int:
    """The pid of this process's ``tomehub SUBCOMMAND`` child (``process()`` does not hand it out)."""
    for proc in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if proc.cmdline()[3:4] == [subcommand]:
                return proc.pid
    raise RuntimeError(f"no `tomehub {subcommand}` child process")


def postmaster_pid(pgdata: Path) -> int:
    """The embedded PostgreSQL's postmaster (started by pg_ctl, so not this process's child)."""
    pid_file = next(pgdata.rglob("postmaster.pid"), None)
    if pid_file is None:
        raise RuntimeError(f"no postmaster.pid under {pgdata}")
    return int(pid_file.read_text().split()[0])


# ------------------------------------------------------------------ the run


@dataclass
class Upload:
    status: int
    body: dict[str, Any]
    seconds: float
    sent_seconds: float | None
    progress: list[str]


def upload(client: httpx.Client, path: Path, sampler: Sampler) -> Upload:
    started = time.perf_counter()
    sampler.phase = "upload"
    with TimedFile(path, "rb") as handle:
        files = {"file": (path.name, handle, "application/zip")}
        response = client.post("/api/ingest/batch", files=files)
        sent = None if handle.sent_at is None else handle.sent_at - started
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = {"text": response.text[:300]}
    return Upload(response.status_code, body, seconds, sent, [])


def follow_run(
    client: httpx.Client,
    run_id: str,
    *,
    seconds: float,
    progress: list[str],
    on_first_done: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Polls the run for ``seconds`` (or until it ends); notes each change of status, and the counts
    every 10 s; calls ``on_first_done`` once, when the first file has finished. Returns the last state."""
    started = time.perf_counter()
    last_status, last_note = "", -math.inf
    state: dict[str, Any] = {}
    while True:
        state = client.get(f"/api/ingest/runs/{run_id}").json()
        now = time.perf_counter() - started
        if on_first_done is not None and state["files_done"] + state["files_failed"] > 0:
            on_first_done()
            on_first_done = None
        if state["status"] != last_status or now - last_note >= 10 or state["status"] in TERMINAL:
            progress.append(
                f"+{now:5.1f} s  {state['status']:<21} {state['files_done']:,} done, {state['files_failed']:,} "
                f"failed, {state.get('files_skipped', 0):,} skipped of {state['files_total']:,}; "
                f"{state['chunks_written']:,} chunks"
            )
            last_status, last_note = state["status"], now
        if state["status"] in TERMINAL or now >= seconds:
            return state
        time.sleep(1.0)


def memory_table(sampler: Sampler, limit_mb: float) -> tuple[Table, dict[str, bool]]:
    """The table of every process sampled, and whether each group (api, postgres, worker) kept within
    the limit."""
    table = Table(
        f"Memory per process (MB; baseline = just before the upload; {sampler.samples:,} samples)",
        ["process", "pid", "baseline RSS", "peak RSS (upload)", "peak RSS (after)", "RSS growth",
         "private growth", "judged by", f"≤ {limit_mb:g} MB"],
    )  # fmt: skip
    passed: dict[str, bool] = {}
    for seen in sorted(sampler.seen.values(), key=lambda s: (s.group, s.pid)):
        private = seen.group == "postgres"
        ok = seen.growth(private) / MB <= limit_mb
        passed[seen.group] = passed.get(seen.group, True) and ok
        table.add(
            f"{seen.group}: {seen.name}", str(seen.pid), seen.baseline_rss / MB, _peak(seen, "upload"),
            _peak(seen, "after"), seen.growth(False) / MB, seen.growth(True) / MB, "private" if private else "RSS",
            "PASS" if ok else "MISS",
        )  # fmt: skip
    table.notes.append(
        "'upload': from sending the request to its response; 'after': while the run was followed. Private = RSS "
        "less file-backed and shared pages; PostgreSQL is judged by it because its RSS counts the shared buffer pool "
        "it touches. A process that started later (a new connection's backend, a parser's child) has its first "
        f"sample as baseline; '–': not running then. Peak of all processes together: {sampler.peak_total / MB:,.0f} MB."
    )
    return table, passed


def _peak(seen: Seen, phase: str) -> float:
    return seen.peak_rss[phase] / MB if phase in seen.peak_rss else math.nan


def verdicts(status: int, passed: dict[str, bool], limit_mb: float) -> str:
    """The upload path's verdict (the API and PostgreSQL), then the worker's on its own line."""
    if status != 202:
        # Memory that held up while the server refused the upload proves nothing.
        return f"NO VERDICT: the upload was not accepted (HTTP {status})"
    upload_ok = passed.get("api", False) and passed.get("postgres", False)
    lines = [
        f"{'PASS' if upload_ok else 'MISS'} (upload path: the API process and PostgreSQL): "
        + (f"every process grew ≤ {limit_mb:g} MB" if upload_ok else f"a process grew over {limit_mb:g} MB")
    ]
    if "worker" in passed:
        ok = passed["worker"]
        lines.append(
            f"{'PASS' if ok else 'MISS'} (ingestion worker, while it processed the run): "
            + (f"every process grew ≤ {limit_mb:g} MB" if ok else f"a process grew over {limit_mb:g} MB")
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, out: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tomehub-upload-bench-"))
    print(f"work dir: {workdir}", file=sys.stderr)
    witness = CpuWitness(str(workdir))
    witness.start()
    embedded: EmbeddedServer | None = None
    sampler = Sampler(args.interval)
    try:
        zip_path = workdir / "library.zip"
        zip_bytes = write_zip(zip_path, files=args.files, total_bytes=int(args.total_mb * MIB), seed=args.seed)
        limit = Settings().ingest.max_batch_upload_bytes
        facts = f"{args.files:,} documents, zip {zip_bytes / MIB:,.1f} MiB ({zip_bytes:,} bytes, stored)"
        print(f"zip: {facts}; the server's limit is {limit:,} bytes", flush=True)
        out.append(f"- Zip: {facts}; server limit `ingest.max_batch_upload_bytes` = {limit:,} bytes")
        if zip_bytes > limit:
            print("  the zip is over the server's limit: expect 413", file=sys.stderr)
        embedded = start_embedded(workdir / "pg")
        apply_migrations(embedded.url)
        data_dir = workdir / "app"
        settings = Settings.model_validate({"data_dir": data_dir, "database_url": embedded.url})
        token = issue_local_token(settings.auth, settings.local_signing_key_path, USER, ttl_s=24 * 3600)
        fake_port, app_port = free_port(), free_port()
        fake_url, app_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{app_port}"
        env = app_environment(database_url=embedded.url, data_dir=data_dir, fake_url=fake_url, rule=False)
        # The API process only receives uploads; a separate worker (below) does the ingestion.
        env["TOMEHUB_INGEST__RUN_IN_API_WORKERS"] = "false"
        shown = {k: v for k, v in env.items() if k.startswith("TOMEHUB_") and k != "TOMEHUB_DATABASE_URL"}
        out.append(f"- TomeHub: `{' '.join(f'{k}={v}' for k, v in shown.items())} tomehub serve`")
        with contextlib.ExitStack() as stack:
            fake_args = tomehub_command("fake-llm", f"--port={fake_port}", f"--embedding-dim={DIM}", "--seed=0")
            stack.enter_context(
                process(fake_args, env=dict(os.environ), cwd=workdir, log=workdir / "fake.log",
                        health=f"{fake_url}/v1/models")
            )  # fmt: skip
            stack.enter_context(
                process(tomehub_command("serve", f"--port={app_port}"), env=env, cwd=workdir,
                        log=workdir / "app.log", health=f"{app_url}/api/health")
            )  # fmt: skip
            sampler.watch("api", child_pid("serve"))
            sampler.watch("postgres", postmaster_pid(workdir / "pg"))
            headers = {"Authorization": f"Bearer {token}"}
            timeout = httpx.Timeout(1800.0, connect=10.0)
            client = stack.enter_context(httpx.Client(base_url=app_url, headers=headers, timeout=timeout))
            client.get("/api/ingest/runs").raise_for_status()  # the user exists; the app has served once
            if args.worker_seconds > 0:
                # Started before the upload, so that its baseline is an idle worker's, not a bare
                # interpreter's; it takes the run's files as soon as they are queued.
                stack.enter_context(
                    process(tomehub_command("worker"), env=env, cwd=workdir, log=workdir / "worker.log",
                            # The worker has no HTTP port: the app's health stands in (the check that the
                            # worker has not exited still holds).
                            health=f"{app_url}/api/health")
                )  # fmt: skip
                sampler.watch("worker", child_pid("worker"))
            sampler.start()
            stack.callback(sampler.stop)
            time.sleep(max(3.0, 10 * args.interval))  # baseline samples (and the worker settles)
            result = upload(client, zip_path, sampler)
            sampler.phase = "after"
            rate = zip_bytes / MIB / result.seconds
            sent = f"body sent in {result.sent_seconds:.1f} s, " if result.sent_seconds is not None else ""
            print(f"upload: HTTP {result.status} in {result.seconds:.1f} s ({sent}{rate:,.1f} MiB/s)", flush=True)
            print(f"  response: {result.body}", flush=True)
            out.append(
                f"- Upload: HTTP {result.status} in {result.seconds:.1f} s ({sent}{rate:,.1f} MiB/s); "
                f"response `{result.body}`"
            )
            warm: dict[str, int] = {}

            def first_file_done() -> None:
                # The worker loads its parsers, tokenizer and model with its first file, once: growth
                # after that is what a bigger run would add.
                with contextlib.suppress(psutil.Error, KeyError):
                    warm["rss"] = psutil.Process(sampler.roots["worker"]).memory_info().rss
                sampler.phase = "processing"

            if result.status == 202:
                run_id = str(result.body["run_id"])
                follow_run(
                    client, run_id, seconds=args.worker_seconds, progress=result.progress, on_first_done=first_file_done
                )
            sampler.stop()
            print("\nRun status (from the 202 on):", flush=True)
            for line in result.progress or ["(no run: the upload was not accepted)"]:
                print(f"  {line}", flush=True)
            out.append("\nRun status (from the 202 on):\n\n```\n" + "\n".join(result.progress) + "\n```")
            table, passed = memory_table(sampler, args.limit_mb)
            print("\n" + table.text(), flush=True)
            out.append("\n" + table.markdown())
            verdict = verdicts(result.status, passed, args.limit_mb)
            worker = sampler.seen.get(sampler.roots.get("worker", -1))
            if worker is not None and "rss" in warm:
                later = worker.peak_rss.get("processing", warm["rss"])
                grown = (later - warm["rss"]) / MB
                verdict += (
                    f"\n{'PASS' if grown <= args.limit_mb else 'MISS'} (ingestion worker after its first file, "
                    f"its libraries and model loaded once): RSS {warm['rss'] / MB:,.0f} MB then, peak "
                    f"{later / MB:,.0f} MB after: growth {grown:,.1f} MB"
                )
            print(f"\n{verdict}", flush=True)
            out.append("\n" + verdict.replace("\n", "\n\n"))
    finally:
        sampler.stop()
        out.append(f"- Other processes' CPU during the run: {witness.stop()}")
        release_workdir(workdir, embedded, keep=args.keep)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000, help="documents in the zip")
    parser.add_argument("--total-mb", type=float, default=1016.0, help="MiB of documents in all")
    parser.add_argument("--worker-seconds", type=float, default=60.0, help="then run a worker this long (0: none)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples")
    parser.add_argument("--limit-mb", type=float, default=100.0, help="the growth allowed per process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (zip, data, server logs)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "upload_memory_bench.md")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    title = "TomeHub upload memory benchmark"
    with written_report(title, "benchmarks/upload_memory_bench.py", sys.argv[1:], args.out, REPO) as out:
        run(args, out)


if __name__ == "__main__":
    main()
