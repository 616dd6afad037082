"""Uploads the library as one zip and follows the run to its end."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from realtext.data import library_zip

TERMINAL = ("succeeded", "completed_with_errors", "failed")


@dataclass
class Ingested:
    state: dict[str, Any]
    seconds: float  # from sending the upload to the poll that saw the run finished
    upload_seconds: float  # the upload request alone (to its 202)


def upload_and_wait(client: httpx.Client, files: list[tuple[str, bytes]], *, poll_s: float = 0.25) -> Ingested:
    """Like ``followup_bench.ingest`` (one zip to ``POST /api/ingest/batch``, polls the run), but with
    the library's own files and the timings returned; polls every ``poll_s`` (the figure's resolution)."""
    archive = library_zip(files)
    started = time.perf_counter()
    response = client.post("/api/ingest/batch", files={"file": ("scifact.zip", archive, "application/zip")})
    upload_seconds = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/ingest/batch answered {response.status_code}: {response.text[:300]}")
    run_id = response.json()["run_id"]
    while True:
        state: dict[str, Any] = client.get(f"/api/ingest/runs/{run_id}").json()
        print(f"\r  ingest: {state['files_done']}/{state['files_total']} files", end="", file=sys.stderr, flush=True)
        if state["status"] in TERMINAL:
            break
        if time.perf_counter() - started > 3600:
            raise RuntimeError("the ingestion did not finish in an hour")
        time.sleep(poll_s)
    seconds = time.perf_counter() - started
    print(file=sys.stderr)
    if state["status"] != "succeeded" or state["passages_pending_embedding"]:
        raise RuntimeError(f"the ingestion ended {state['status']}: {state['errors'][:3]}")
    return Ingested(state, seconds, upload_seconds)
