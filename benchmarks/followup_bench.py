"""Follow-up benchmark of TomeHub (run by hand, never in CI; prints its figures and writes them as
Markdown): the time to first token of a follow-up message in a chat against a plain question on the
same library, with the fake provider as every model.

Run from the repository root::

    .venv/bin/python benchmarks/followup_bench.py                       # N=50, 400 SciFact abstracts
    .venv/bin/python benchmarks/followup_bench.py --n 10 --docs 150 --out /tmp/followup.md

Options: ``--n 50`` (measured requests of each kind), ``--warmup 5``, ``--docs 400`` (abstracts
ingested), ``--latency-p50-ms 5 --latency-p95-ms 10`` (the fake provider's per-call latency,
``tomehub fake-llm``'s defaults), ``--no-rule`` (skip the server without a condensing model),
``--database-url URL`` (an existing PostgreSQL with pgvector instead of a fresh embedded one),
``--keep``, ``--out benchmarks/results/followup_bench.md``.

The set-up, every part over real HTTP on 127.0.0.1, each in its own process:

* the fake provider: ``tomehub fake-llm`` (OpenAI-compatible; embeddings, chat, streaming), every call
  delayed by a log-normal latency of the given p50/p95 before its first byte, no token delay;
* TomeHub: ``tomehub serve`` configured by environment only — ``TOMEHUB_LLM_BASE_URL`` at the fake, so
  the fake embeds (queries and passages), expands queries, writes, judges and condenses; no Redis,
  no rate limits, no demo library. A second server on the same database and data dir (started after
  the ingestion) differs only by ``TOMEHUB_LLM__CONDENSE__PROVIDER=none``: its follow-ups use the
  rule (the previous question joins the keyword search at a lower weight) instead of a chat model;
* the library: the first ``--docs`` abstracts of the SciFact development set
  (``../shared/datasets/scifact-dev``) that hold the evidence of the claims asked, then others, one
  Markdown file each (title, blank line, abstract), uploaded as one zip to ``POST /api/ingest/batch``
  and indexed by the server's own worker (embeddings from the fake);
* the questions: SciFact claims, each asked once in the whole run (every cache — query embedding,
  expansion, search results, answers, condensing — misses).

Measured, one request at a time from one keep-alive client, interleaved so that background load
hits every kind alike (per round: a plain question, a follow-up, a rule follow-up):

* plain: ``POST /api/search`` with ``Accept: text/event-stream`` (claim A);
* follow-up: a new chat, a first message (claim B, streamed to its end and stored, not timed), then
  the timed message ``How does it relate to <claim C>?`` — condensing runs (one chat-model call)
  before the search;
* rule follow-up: the same on the server without a condensing model.

For each: the time from sending the request to the ``sources`` event (retrieval done) and to the
first ``token`` event (time to first token, TTFT), nearest-rank p50/p95, the stream read to its end.
The floor: the fake provider's own per-call latency (its settings, and a round trip measured from
this process: a non-streamed condense call, a query embedding, and a streamed answer's first chunk),
and the model calls each kind makes before its first token (counted from the fake's /control/stats).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from searchbench.latency import percentiles
from searchbench.report import CpuWitness, Table, written_report
from searchbench.server import free_port, release_workdir
from tomehub.auth.tokens import issue_local_token
from tomehub.config import Settings
from tomehub.store.embedded import EmbeddedServer, start_embedded
from tomehub.store.migrate import apply_migrations

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "datasets" / "scifact-dev"
DIM = 384
USER = "bench-followup"
FOLLOW_UP = "How does it relate to {claim}?"
# Model calls before the first token are counted per kind by these operations (X-TomeHub-Operation).
OPERATIONS = ("embeddings:search-embedding", "chat:query-expansion", "chat:condense", "chat:generation", "chat:judge")


# ------------------------------------------------------------------ the library and the questions


@dataclass(frozen=True)
class Dataset:
    abstracts: list[dict[str, str]]
    claims: list[str]


def scifact(n_docs: int, n_claims: int) -> Dataset:
    """Returns ``n_docs`` abstracts (the evidence of the first ``n_claims`` claims first) and the claims."""
    corpus = {d["_id"]: d for d in map(json.loads, (SCIFACT / "corpus.jsonl").read_text().splitlines())}
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines()]
    evidence: dict[str, list[str]] = {}
    for line in (SCIFACT / "qrels.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, _ = line.split("\t")
        evidence.setdefault(query_id, []).append(doc_id)
    claims: list[str] = []
    chosen: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for q in queries:
        text = " ".join(str(q["text"]).split())
        # Long claims would make the follow-up (which quotes one) far longer than a typed message.
        if text.lower() in seen or len(text) > 180:
            continue
        seen.add(text.lower())
        claims.append(text)
        for doc_id in evidence.get(str(q["_id"]), []):
            if len(chosen) < n_docs and doc_id in corpus:
                chosen.setdefault(doc_id, corpus[doc_id])
        if len(claims) >= n_claims:
            break
    for doc_id, doc in corpus.items():
        if len(chosen) >= n_docs:
            break
        chosen.setdefault(doc_id, doc)
    if len(claims) < n_claims:
        raise SystemExit(f"SciFact has only {len(claims)} usable claims; {n_claims} are needed (lower --n).")
    return Dataset(abstracts=list(chosen.values()), claims=claims)


def library_zip(abstracts: list[dict[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for doc in abstracts:
            archive.writestr(f"scifact-{doc['_id']}.md", f"# {doc['title']}\n\n{doc['text']}\n")
    return buffer.getvalue()


# ------------------------------------------------------------------ processes


def tomehub_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tomehub", *args]


@contextlib.contextmanager
def process(args: list[str], *, env: dict[str, str], cwd: Path, log: Path, health: str) -> Iterator[None]:
    """Runs a server process until the block ends; waits until ``health`` answers 200."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(args, stdout=sink, stderr=sink, env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[3]} exited ({proc.returncode}); see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[3]} did not become healthy in 120 s; see {log}")
            time.sleep(0.25)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def app_environment(*, database_url: str, data_dir: Path, fake_url: str, rule: bool) -> dict[str, str]:
    """The environment of ``tomehub serve``: every model at the fake, no Redis, no rate limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOMEHUB_")}
    env.update(
        {
            "TOMEHUB_DATABASE_URL": database_url,
            "TOMEHUB_DATA_DIR": str(data_dir),
            "TOMEHUB_LLM_BASE_URL": f"{fake_url}/v1",
            "TOMEHUB_LLM__CHAT_MODEL": "fake-chat",
            "TOMEHUB_LLM__EMBEDDING_MODEL": "fake-embedding",
            "TOMEHUB_LLM__EMBEDDING_DIM": str(DIM),
            "TOMEHUB_RATE_LIMITS__ENABLED": "false",
            "TOMEHUB_SERVER__DEMO_ON_FIRST_START": "false",
        }
    )
    if rule:
        env["TOMEHUB_LLM__CONDENSE__PROVIDER"] = "none"
    return env


# ------------------------------------------------------------------ requests


@dataclass
class Timing:
    sources_ms: float
    first_token_ms: float
    total_ms: float
    done: dict[str, Any]


@dataclass
class Kind:
    name: str
    timings: list[Timing] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def column(self, attribute: str) -> list[float]:
        return [getattr(t, attribute) for t in self.timings]


def stream(client: httpx.Client, path: str, body: dict[str, Any]) -> Timing:
    """POSTs for an SSE answer and reads it to its end; returns when its events arrived."""
    started = time.perf_counter()
    sources = first_token = math.inf
    event: str | None = None
    done: dict[str, Any] | None = None
    with client.stream("POST", path, json=body, headers={"Accept": "text/event-stream"}) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
                now = (time.perf_counter() - started) * 1000
                if event == "sources":
                    sources = now
                elif event == "token" and first_token == math.inf:
                    first_token = now
            elif line.startswith("data:") and event in ("done", "error"):
                payload = json.loads(line[5:].strip())
                if event == "error":
                    raise RuntimeError(f"{path} streamed an error: {payload}")
                done = payload
    if done is None:
        raise RuntimeError(f"{path} ended without a done event")
    return Timing(sources, first_token, (time.perf_counter() - started) * 1000, done)


def new_chat(client: httpx.Client) -> str:
    response = client.post("/api/chats", json={})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/chats answered {response.status_code}: {response.text[:300]}")
    return str(response.json()["id"])


def fake_calls(fake: httpx.Client) -> Counter[str]:
    return Counter({k: int(v) for k, v in fake.get("/control/stats").json()["calls"].items()})


def chat_with_one_turn(client: httpx.Client, first: str) -> str:
    """Starts a chat and asks its first message (streamed to its end and stored); returns the path
    of the chat's messages."""
    path = f"/api/chats/{new_chat(client)}/messages"
    stream(client, path, {"content": first})
    return path


def measured(kind: Kind, fake: httpx.Client, call: Callable[[], Timing]) -> None:
    """One timed request of ``kind``; the fake's calls it caused are added to the kind's count."""
    before = fake_calls(fake)
    kind.timings.append(call())
    kind.calls.update(fake_calls(fake) - before)


# ------------------------------------------------------------------ the floor


def floor_table(fake: httpx.Client, n: int) -> Table:
    """Round trips of single calls to the fake provider, measured from this process."""
    faults = fake.get("/control/faults").json()
    condense = {
        "model": "fake-chat",
        "messages": [{"role": "user", "content": "TASK: condense\nReader: What did Popper say?\nMESSAGE: and he?"}],
    }
    answer = {
        "model": "fake-chat",
        "stream": True,
        "messages": [{"role": "user", "content": "[1] A passage.\nQUESTION: what?"}],
    }
    rows: dict[str, list[float]] = {"condense (chat, not streamed)": [], "query embedding": [], "answer stream": []}
    for i in range(n):
        started = time.perf_counter()
        fake.post("/v1/chat/completions", json=condense, headers={"X-TomeHub-Operation": "condense"}).raise_for_status()
        rows["condense (chat, not streamed)"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        fake.post(
            "/v1/embeddings",
            json={"model": "fake-embedding", "input": [f"query {i}"]},
            headers={"X-TomeHub-Operation": "search-embedding"},
        ).raise_for_status()
        rows["query embedding"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with fake.stream(
            "POST", "/v1/chat/completions", json=answer, headers={"X-TomeHub-Operation": "generation"}
        ) as response:
            first: float | None = None
            for _ in response.iter_bytes():  # read to the end, so the connection is reused
                first = first if first is not None else (time.perf_counter() - started) * 1000
            rows["answer stream"].append(first if first is not None else math.inf)
    table = Table(
        f"Floor: the fake provider's own per-call latency ({n} calls each, from this process)",
        ["call", "p50 ms", "p95 ms"],
    )
    for label, values in rows.items():
        stats = percentiles(values)
        table.add(label, stats["p50"], stats["p95"])
    chat, embeddings = faults["chat"], faults["embeddings"]
    table.notes.append(
        f"Settings: chat latency p50 {chat['latency_p50_ms']:g} ms / p95 {chat['latency_p95_ms']:g} ms, "
        f"embeddings p50 {embeddings['latency_p50_ms']:g} / p95 {embeddings['latency_p95_ms']:g} ms (log-normal, "
        f"before the first byte), token delay {chat['token_delay_ms']:g} ms, no faults. 'answer stream' is the time "
        "to the first chunk of a streamed reply."
    )
    return table


# ------------------------------------------------------------------ the run


def results_table(kinds: list[Kind], n: int) -> Table:
    table = Table(
        f"Time to first token ({n} requests of each kind, ms)",
        ["request", "sources p50", "sources p95", "TTFT p50", "TTFT p95", "TTFT p50 / plain", "TTFT p95 / plain"],
    )
    base = percentiles(kinds[0].column("first_token_ms"))
    for kind in kinds:
        src = percentiles(kind.column("sources_ms"))
        ttft = percentiles(kind.column("first_token_ms"))
        table.add(
            kind.name, src["p50"], src["p95"], ttft["p50"], ttft["p95"], ttft["p50"] / base["p50"],
            ttft["p95"] / base["p95"],
        )  # fmt: skip
    return table


def calls_table(kinds: list[Kind], n: int) -> Table:
    table = Table(
        "Model calls per request (mean, from the fake's counters)", ["request", *(o.split(":")[1] for o in OPERATIONS)]
    )
    for kind in kinds:
        table.add(kind.name, *(kind.calls[o] / n for o in OPERATIONS))
    answers = Counter(
        f"{t.done.get('answerer')}/{t.done.get('review')}/{t.done.get('followup')}" for k in kinds for t in k.timings
    )
    table.notes.append(
        "Before the first token: query embedding, query expansion, condensing (follow-ups with a chat model) and "
        "the answer's stream; the judge runs after the answer's last token. Answers (answerer/review/follow-up): "
        + ", ".join(f"{key} {count}" for key, count in answers.most_common())
        + "."
    )
    return table


def run(args: argparse.Namespace, out: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tomehub-followup-bench-"))
    print(f"work dir: {workdir}", file=sys.stderr)
    witness = CpuWitness(str(workdir))
    witness.start()
    embedded: EmbeddedServer | None = None
    try:
        url = args.database_url
        if url is None:
            embedded = start_embedded(workdir / "pg")
            url = embedded.url
        apply_migrations(url)
        data_dir = workdir / "app"
        settings = Settings.model_validate({"data_dir": data_dir, "database_url": url})
        token = issue_local_token(settings.auth, settings.local_signing_key_path, USER, ttl_s=24 * 3600)
        # Per round: a plain question, a follow-up (2 claims), a rule follow-up (2 claims).
        per_round = 5 if args.rule else 3
        data = scifact(args.docs, (args.n + args.warmup) * per_round)
        claims = iter(data.claims)
        fake_port, app_port, rule_port = free_port(), free_port(), free_port()
        fake_url = f"http://127.0.0.1:{fake_port}"
        fake_args = tomehub_command(
            "fake-llm", f"--port={fake_port}", f"--embedding-dim={DIM}", "--seed=0",
            f"--latency-p50-ms={args.latency_p50_ms}", f"--latency-p95-ms={args.latency_p95_ms}",
        )  # fmt: skip
        out.append(f"- Fake provider: `{shlex.join(['tomehub', *fake_args[3:]])}`")
        with contextlib.ExitStack() as stack:
            fake_health = f"{fake_url}/v1/models"
            stack.enter_context(
                process(fake_args, env=dict(os.environ), cwd=workdir, log=workdir / "fake.log", health=fake_health)
            )
            fake = stack.enter_context(httpx.Client(base_url=fake_url, timeout=30.0))
            headers = {"Authorization": f"Bearer {token}"}
            env = app_environment(database_url=url, data_dir=data_dir, fake_url=fake_url, rule=False)
            shown = {k: v for k, v in env.items() if k.startswith("TOMEHUB_") and k != "TOMEHUB_DATABASE_URL"}
            out.append(f"- TomeHub: `{' '.join(f'{k}={v}' for k, v in shown.items())} tomehub serve`")
            app_url = f"http://127.0.0.1:{app_port}"
            stack.enter_context(
                process(tomehub_command("serve", f"--port={app_port}"), env=env, cwd=workdir,
                        log=workdir / "app.log", health=f"{app_url}/api/health")
            )  # fmt: skip
            client = stack.enter_context(httpx.Client(base_url=app_url, headers=headers, timeout=60.0))
            facts = ingest(client, data.abstracts)
            print(f"library: {facts}", flush=True)
            out.append(f"- Library: {facts} (SciFact development abstracts, ingested through the API)")
            kinds = [Kind("plain: POST /api/search"), Kind("follow-up (condensed by the chat model)")]
            rule_client: httpx.Client | None = None
            if args.rule:
                rule_url = f"http://127.0.0.1:{rule_port}"
                rule_env = app_environment(database_url=url, data_dir=data_dir, fake_url=fake_url, rule=True)
                stack.enter_context(
                    process(tomehub_command("serve", f"--port={rule_port}"), env=rule_env, cwd=workdir,
                            log=workdir / "app-rule.log", health=f"{rule_url}/api/health")
                )  # fmt: skip
                rule_client = stack.enter_context(httpx.Client(base_url=rule_url, headers=headers, timeout=60.0))
                kinds.append(Kind("follow-up (the rule: TOMEHUB_LLM__CONDENSE__PROVIDER=none)"))
            floor = floor_table(fake, args.n)
            fake.post("/control/reset").raise_for_status()
            for phase, rounds in (("warm-up", args.warmup), ("measured", args.n)):
                sink = [Kind(k.name) for k in kinds] if phase == "warm-up" else kinds
                for i in range(rounds):
                    print(f"\r  {phase}: {i + 1}/{rounds}", end="", file=sys.stderr, flush=True)
                    measured(sink[0], fake, partial(stream, client, "/api/search", {"question": next(claims)}))
                    path = chat_with_one_turn(client, next(claims))
                    then = {"content": FOLLOW_UP.format(claim=next(claims).rstrip("."))}
                    measured(sink[1], fake, partial(stream, client, path, then))
                    if rule_client is not None:
                        path = chat_with_one_turn(rule_client, next(claims))
                        then = {"content": FOLLOW_UP.format(claim=next(claims).rstrip("."))}
                        measured(sink[2], fake, partial(stream, rule_client, path, then))
                print(file=sys.stderr)
            check(kinds)
            tables = [results_table(kinds, args.n), calls_table(kinds, args.n), floor]
            for table in tables:
                print("\n" + table.text(), flush=True)
                out.append("\n" + table.markdown())
    finally:
        out.append(f"- Other processes' CPU during the run: {witness.stop()}")
        release_workdir(workdir, embedded, keep=args.keep)


def check(kinds: list[Kind]) -> None:
    """Refuses figures that would not mean what they say (no token, a cached answer, no follow-up)."""
    for kind in kinds:
        for t in kind.timings:
            if not math.isfinite(t.first_token_ms):
                raise RuntimeError(f"{kind.name}: a stream without a token event ({t.done.get('answerer')})")
            if t.done.get("cached"):
                raise RuntimeError(f"{kind.name}: an answer came from the cache; the questions must be distinct")
    expected = ["condensed", "rule"]
    for kind, mode in zip(kinds[1:], expected, strict=False):
        modes = Counter(t.done.get("followup") for t in kind.timings)
        if modes[mode] != len(kind.timings):
            raise RuntimeError(f"{kind.name}: follow-up modes {dict(modes)}, expected all {mode}")


def ingest(client: httpx.Client, abstracts: list[dict[str, str]]) -> str:
    """Uploads the abstracts as one zip and waits for the run; returns what it wrote."""
    started = time.perf_counter()
    files = {"file": ("scifact.zip", library_zip(abstracts), "application/zip")}
    response = client.post("/api/ingest/batch", files=files)
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/ingest/batch answered {response.status_code}: {response.text[:300]}")
    run_id = response.json()["run_id"]
    while True:
        state = client.get(f"/api/ingest/runs/{run_id}").json()
        print(f"\r  ingest: {state['files_done']}/{state['files_total']} files", end="", file=sys.stderr, flush=True)
        if state["status"] in ("succeeded", "completed_with_errors", "failed"):
            break
        if time.perf_counter() - started > 1800:
            raise RuntimeError("the ingestion did not finish in 30 minutes")
        time.sleep(0.5)
    print(file=sys.stderr)
    if state["status"] != "succeeded" or state["passages_pending_embedding"]:
        raise RuntimeError(f"the ingestion ended {state['status']}: {state['errors'][:3]}")
    seconds = time.perf_counter() - started
    return (
        f"{state['files_done']:,} abstracts, {state['chunks_written']:,} chunks, "
        f"{state['passages_embedded']:,} passages embedded by the fake, ingested in {seconds:.0f} s"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="measured requests of each kind")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first")
    parser.add_argument("--docs", type=int, default=400, help="SciFact abstracts in the library")
    parser.add_argument("--latency-p50-ms", type=float, default=5.0)
    parser.add_argument("--latency-p95-ms", type=float, default=10.0)
    parser.add_argument("--no-rule", dest="rule", action="store_false", help="skip the server without a condenser")
    parser.add_argument("--database-url", default=None, help="an existing PostgreSQL (default: fresh embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, server logs)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "followup_bench.md")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    with written_report(
        "TomeHub follow-up benchmark", "benchmarks/followup_bench.py", sys.argv[1:], args.out, REPO
    ) as out:
        run(args, out)


if __name__ == "__main__":
    main()
