"""The load generator against a tiny HTTP server on loopback (seconds, no deployment): Retry-After is
waited out (or ignored by the retry storm), the client's deadline travels in its headers, and load
from several processes comes back as one run's records on the parent's clock, each in its phase."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tomehub.stress.load import LoadClient
from tomehub.stress.pool import LoadPool
from tomehub.stress.records import Record
from tomehub.stress.scenarios.base import Questions, search


class _Server:
    """Answers every request at once: 503 + Retry-After: 1 for the first ``busy`` ones, then 200."""

    def __init__(self, busy: int = 0) -> None:
        self.busy = busy
        self.hang_up = False  # close the connection without an answer
        self.seen: list[tuple[float, dict[str, str], bytes]] = []  # (time.time() on arrival, headers, body)
        self.lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[tuple[str, _Server]]:
    state = _Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with state.lock:
                state.seen.append((time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                busy = len(state.seen) <= state.busy
            if state.hang_up:
                self.close_connection = True
                return
            answer = b'{"hits": []}'
            self.send_response(503 if busy else 200)
            if busy:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


async def _one_user(url: str, *, retry: str, seconds: float) -> list[Record]:
    client = LoadClient(url, ["token"])
    end = time.monotonic() + seconds
    try:
        await client.closed_loop(
            search(Questions(seed=1).fresh),
            users=1,
            until=lambda: time.monotonic() > end,
            think_s=(0.0, 0.0),
            retry=retry,  # type: ignore[arg-type]
        )
    finally:
        await client.close()
    return sorted(client.records, key=lambda r: r.start)


async def test_a_user_waits_out_retry_after_before_asking_again(server: tuple[str, _Server]) -> None:
    url, state = server
    state.busy = 1
    records = await _one_user(url, retry="honour", seconds=2.0)
    assert records[0].status == 503 and records[0].retry_after == 1.0
    # Retry-After: 1 plus up to 50 % jitter, though the user's think time is zero.
    gap = records[1].start - records[0].end
    assert 1.0 <= gap <= 1.6, gap
    assert all(r.ok for r in records[1:])
    assert not any(r.early for r in records)  # it waited as asked


async def test_a_storming_user_ignores_retry_after(server: tuple[str, _Server]) -> None:
    url, state = server
    state.busy = 3
    records = await _one_user(url, retry="ignore", seconds=0.5)
    assert [r.status for r in records[:4]] == [503, 503, 503, 200]
    assert records[3].start - records[0].end < 0.5
    # Every request after the first refusal was sent before its Retry-After had passed.
    assert [r.early for r in records[:4]] == [False, True, True, True]


async def test_requests_carry_the_clients_deadline(server: tuple[str, _Server]) -> None:
    url, state = server
    await _one_user(url, retry="honour", seconds=0.2)
    arrived, headers, _ = state.seen[0]
    assert headers["x-tomehub-deadline-ms"] == "6000"
    # The absolute deadline is the SLA from when the client sent it (Unix ms), on the client's clock.
    assert abs(int(headers["x-tomehub-deadline-at"]) / 1000 - (arrived + 6.0)) < 0.5


async def test_a_refused_or_reset_connection_is_recorded_as_such(server: tuple[str, _Server]) -> None:
    url, state = server
    state.hang_up = True
    reset = await _one_user(url, retry="honour", seconds=0.1)
    assert reset[0].error == "reset" and reset[0].status == 0
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    refused = await _one_user(closed, retry="honour", seconds=0.1)
    assert refused[0].error == "refused"


async def test_a_slow_answer_is_a_timeout_at_the_sla() -> None:
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1)  # the kernel accepts the connection; nobody ever answers
    client = LoadClient(f"http://127.0.0.1:{blackhole.getsockname()[1]}", ["token"], sla_s=0.2)
    try:
        record = await client.search(0, "dasein")
    finally:
        await client.close()
        blackhole.close()
    assert record.error == "timeout" and 0.2 <= record.latency < 1.0


async def test_load_from_two_processes_is_one_run_on_the_parents_clock(server: tuple[str, _Server]) -> None:
    url, state = server
    pool = LoadPool(url, ["token"], processes=2)
    pool.start()
    try:
        await pool.ready()
        pool.set_phase("first")
        before = pool.now()
        end = time.monotonic() + 2.0

        async def later() -> None:
            await asyncio.sleep(1.0)
            pool.set_phase("second")

        switch = asyncio.create_task(later())
        await pool.closed_loop(
            search(Questions(seed=1).fresh), users=6, until=lambda: time.monotonic() > end, think_s=(0.05, 0.1)
        )
        await switch
        after = pool.now()
        changed = pool.timeline[-1][0]
    finally:
        await pool.close()
    records = pool.records
    assert records and all(r.ok for r in records)
    assert {r.process for r in records} == {1, 2}
    # One clock: every child's record lies inside the parent's window, and takes the phase that was
    # current at its start (the phase changed while the children ran).
    assert all(before <= r.start <= r.end <= after for r in records)
    assert all(r.phase == ("first" if r.start < changed else "second") for r in records)
    assert {r.phase for r in records} == {"first", "second"}
    # Each process asked its own questions (not copies of one stream, which would hit a cache).
    queries = [body for _, _, body in state.seen]
    assert len(queries) == len(records) and len(set(queries)) == len(queries)
    # Both children measured themselves.
    assert {1, 2} <= set(pool.checks.lags)
    verdict = pool.checks.verdict(before, after)
    assert {p.process for p in verdict.processes} >= {1, 2}
