"""Shedding at the edge: a late event loop, a long accept queue, or an admission that would refuse
anyway refuses new API requests at once."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tomehub.resilience import edge
from tomehub.resilience.admission import EDGE_JUDGED, Admission, AdmissionLimits, AdmissionMiddleware, Priority
from tomehub.resilience.edge import EdgeLimits, EdgeMonitor, EdgeShedMiddleware, ListeningSocket, accept_queue


def test_lag_past_the_bound_sheds_until_it_falls_below_half() -> None:
    monitor = EdgeMonitor(EdgeLimits(max_loop_lag_s=0.2, max_accept_queue=0))
    now = time.monotonic()
    monitor.observe(0.05, None)
    assert not monitor.should_shed(now)
    monitor.observe(2.5, None)  # one pause (a start-up step): not a late worker
    assert not monitor.should_shed(now)
    monitor.observe(0.05, None)
    monitor.observe(0.3, None)
    monitor.observe(0.3, None)  # late twice in a row: shedding
    assert monitor.should_shed(now)
    monitor.observe(0.15, None)  # below the bound, not yet below half of it: still shedding
    assert monitor.should_shed(now)
    monitor.observe(0.05, None)
    assert not monitor.should_shed(now)


def test_a_tick_overdue_right_now_counts_as_lag() -> None:
    # One tick was late, and the loop is busy this instant: the next tick is a second overdue.
    monitor = EdgeMonitor(EdgeLimits(max_loop_lag_s=0.2))
    monitor._next_tick = time.monotonic() - 1.0
    assert not monitor.should_shed(time.monotonic())  # nothing was late before: a single pause
    monitor.observe(0.3, None)
    assert not monitor.shedding
    assert monitor.should_shed(time.monotonic())


def test_a_growing_accept_queue_sheds() -> None:
    monitor = EdgeMonitor(EdgeLimits(max_loop_lag_s=0.2, max_accept_queue=100))
    monitor.observe(0.0, 50)
    assert not monitor.shedding
    monitor.observe(0.0, 150)
    assert monitor.shedding
    monitor.observe(0.0, 10)
    assert not monitor.shedding


def test_accept_queue_reads_the_listening_sockets_backlog(tmp_path: Path) -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "tcp").write_text(
        header
        + "   0: 0100007F:1F40 00000000:0000 0A 00000000:0000002A 00:00000000 00000000  1000        0 1\n"
        + "   1: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 2\n"
        + "   2: 0100007F:1F41 00000000:0000 0A 00000000:00000007 00:00000000 00000000  1000        0 3\n"
    )
    assert accept_queue(0x1F40, proc=tmp_path) == 42  # port 8000: 0x2A waiting
    assert accept_queue(0x1F41, proc=tmp_path) == 7
    assert accept_queue(9999, proc=tmp_path) is None


async def test_the_middleware_refuses_api_requests_but_serves_health() -> None:
    monitor = EdgeMonitor(EdgeLimits(max_loop_lag_s=0.2))
    monitor.observe(1.0, None)
    monitor.observe(1.0, None)
    reached: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = EdgeShedMiddleware(app, monitor)  # type: ignore[arg-type]
    timed_before = _shed_times("edge")

    async def call(path: str) -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": [], "server": ("127.0.0.1", 8000)}
        await middleware(scope, None, send)  # type: ignore[arg-type]
        return sent[0]["status"], dict(sent[0]["headers"])

    status, headers = await call("/api/smart-search")
    assert status == 503 and headers[b"retry-after"] == b"1"
    status, _ = await call("/v1/chat/completions")
    assert status == 503
    assert (await call("/api/health"))[0] == 200
    assert (await call("/metrics"))[0] == 200
    assert reached == ["/api/health", "/metrics"]
    assert monitor.shed == 2
    assert monitor.port == 8000
    # Each refusal's time in the worker is recorded under the layer that refused it.
    assert _shed_times("edge") == timed_before + 2


def _shed_times(where: str) -> float:
    return REGISTRY.get_sample_value("tomehub_shed_seconds_count", {"where": where}) or 0.0


def _shed_seconds(where: str) -> float:
    return REGISTRY.get_sample_value("tomehub_shed_seconds_sum", {"where": where}) or 0.0


async def test_a_refusal_after_waiting_for_a_slot_records_its_time_in_the_worker() -> None:
    """A request let through by the edge that waited for a slot until its deadline and was refused
    then is timed from its arrival at the outermost layer: the server's own share of a slow shed,
    beside the client's."""
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=4))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    inner = AdmissionMiddleware(app, admission, default_deadline_s=0.1)  # type: ignore[arg-type]
    middleware = EdgeShedMiddleware(inner, EdgeMonitor(EdgeLimits()), admission, deadline_s=6.0)  # type: ignore[arg-type]
    now = time.monotonic()
    admission.core.offer(Priority.INTERACTIVE, now + 6, now)  # the one slot stays taken
    count, spent = _shed_times("admission"), _shed_seconds("admission")
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await middleware({"type": "http", "method": "POST", "path": "/api/smart-search", "headers": []}, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 503
    assert _shed_times("admission") == count + 1
    assert _shed_seconds("admission") - spent >= 0.1  # it waited to its deadline in the queue first


async def test_a_request_admission_would_refuse_is_refused_before_auth() -> None:
    """The queue is full (or the predicted wait leaves no time): the edge answers 503 with the
    admission's own Retry-After, and the request never reaches the layers behind it (auth, rate limit)."""
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=1, shed_predicted_late=True))
    reached: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = EdgeShedMiddleware(app, EdgeMonitor(EdgeLimits()), admission, deadline_s=6.0)  # type: ignore[arg-type]

    async def status(path: str = "/api/smart-search") -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await middleware({"type": "http", "method": "POST", "path": path, "headers": []}, None, send)  # type: ignore[arg-type]
        return sent[0]["status"], dict(sent[0]["headers"])

    assert (await status())[0] == 200  # a free slot: passes (the slot is taken by admission, later)
    now = time.monotonic()
    admission.core.offer(Priority.INTERACTIVE, now + 6, now)  # the one slot taken
    waiter = admission.core.offer(Priority.INTERACTIVE, now + 6, now)  # the one queue place taken
    assert waiter is not None
    assert (await status())[0] == 503
    assert (await status("/api/health"))[0] == 200
    # Room in the queue again, but each request holds its slot 20 s: a new one could not start
    # within the server's 6 s deadline, so it is refused with how long it would have waited
    # (Retry-After capped at 10 s).
    admission.core.cancel(waiter)
    admission.core.observe(20.0, "/api/smart-search")
    code, headers = await status()
    assert code == 503 and headers[b"retry-after"] == b"10"
    assert reached == ["/api/smart-search", "/api/health"]
    assert admission.core.shed == 2


async def test_the_edge_weighs_a_wait_against_the_clients_deadline_and_marks_what_it_let_in() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=8, shed_predicted_late=True))
    admission.core.observe(0.5, "/api/smart-search")  # a slot is held 0.5 s
    now = time.monotonic()
    admission.core.offer(Priority.INTERACTIVE, now + 6, now, "/api/smart-search")  # the one slot taken
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})

    middleware = EdgeShedMiddleware(app, EdgeMonitor(EdgeLimits()), admission, deadline_s=6.0)  # type: ignore[arg-type]

    async def status(*headers: tuple[bytes, bytes]) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/smart-search", "headers": list(headers)}
        await middleware(scope, None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])

    # A wait of ~0.5 s leaves a 6 s deadline time enough, but not a client's own 0.8 s.
    assert await status((b"x-tomehub-deadline-ms", b"800")) == 503
    assert await status() == 200
    assert scopes[-1]["state"][EDGE_JUDGED] is True  # admission will not weigh it again


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    return server


def test_the_backlog_is_read_from_this_processs_listening_socket() -> None:
    server = _listener()
    port = server.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        listening = ListeningSocket(port)
        assert listening.backlog() == 3  # connected by the kernel, accepted by no one yet
        accepted, _ = server.accept()
        accepted.close()
        assert listening.backlog() == 2
        assert ListeningSocket(_free_port()).backlog() is None  # nothing of ours listens there
    finally:
        for client in clients:
            client.close()
        server.close()
    # The server closed its socket: the probe lets go of it (and never kept it open).
    assert listening.backlog() is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_under_a_default_socket_timeout_the_probe_touches_no_descriptor() -> None:
    server = _listener()
    client = socket.socket()
    client.setblocking(True)
    socket.setdefaulttimeout(5.0)
    try:
        assert ListeningSocket(server.getsockname()[1]).backlog() is None
        assert os.get_blocking(client.fileno())  # a socket object over it would have made it non-blocking
    finally:
        socket.setdefaulttimeout(None)
        client.close()
        server.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_monitor_reads_the_backlog_without_proc_net_tcp(monkeypatch: pytest.MonkeyPatch) -> None:
    def walk_the_connection_table(port: int) -> int | None:
        raise AssertionError("/proc/net/tcp read although the listening socket is in this process")

    monkeypatch.setattr(edge, "accept_queue", walk_the_connection_table)
    server = _listener()
    clients = [socket.create_connection(server.getsockname()) for _ in range(5)]
    monitor = EdgeMonitor(EdgeLimits(max_loop_lag_s=0.2, max_accept_queue=4, interval_s=0.01))
    monitor.port = server.getsockname()[1]
    task = asyncio.create_task(monitor.run())
    try:
        for _ in range(200):
            if monitor.queued is not None:
                break
            await asyncio.sleep(0.01)
        assert monitor.queued == 5
        assert monitor.shedding  # five waiting, four allowed
    finally:
        task.cancel()
        for client in clients:
            client.close()
        server.close()
