"""Shedding at the edge: a worker that is already late refuses new work before spending any on it.

The in-flight count of admission (admission.py) sees a request only once it has been accepted,
parsed, authenticated and rate-limited: under a thousand users the time was lost before that, in a
saturated event loop and a growing accept queue (docs/stress-results.md). Two signals, sampled by
one task per worker:

- **event-loop lag**: the task asks to wake every ``interval_s`` and measures how much later it did;
  late on two ticks in a row is late (one pause is not), and once one tick was late a request also
  sees the lag of the next one if it is overdue right now (the loop is busy this instant);
- **accept queue**: on Linux, the listening socket's backlog (connections the kernel accepted that no
  worker has taken yet), read with one ``TCP_INFO`` call on the socket this process listens on
  (``/proc/net/tcp`` where that socket is not found): its growth means arrivals outpace the workers.

Past either bound the outermost ASGI layer answers new API requests 503 + Retry-After in
microseconds (no auth, no body, no I/O), until the lag falls below half its bound (hysteresis, so
shedding does not flap). Health and metrics are always served.

The same layer also asks the worker's admission whether a request would be refused if it queued
now (its queue full, its queue standing, or its predicted wait past its client's deadline): such a
request is refused here, before it costs a token check and a rate-limit round trip to Redis, and a
request let through is not weighed again (only a full queue refuses it later). Weighed twice, the
second refusal came after auth on a busy loop: in the 1,000-user ramp step the server itself took
over 50 ms for 357 of its refusals; decided here once, for none (docs/stress-results.md, stop 26).

Before either, a request whose client was refused moments ago and told to wait (Retry-After) is
held here until that wait has passed (tarpit.py): answering it at once only brings it back at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from tomehub.metrics import ADMISSION, EDGE_SIGNALS, HELD_TIME, LOOP_LAG
from tomehub.resilience.admission import (
    EDGE_JUDGED,
    HELD_FOR,
    Admission,
    Shed,
    kind_of,
    mark_arrival,
    priority_of,
    refuse,
    since_arrival,
)
from tomehub.resilience.deadline import requested_deadline

_log = logging.getLogger(__name__)

# Never shed: health checks, metrics, the docs and the web app's static files.
_EXEMPT = ("/api/health", "/metrics")
_SHED = ("/api/", "/v1/", "/mcp")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
_QUEUE_EVERY = 5  # ticks between reads of /proc/net/tcp, where the listening socket is not ours
# struct tcp_info: eight one-byte fields, then u32s (rto, ato, snd_mss, rcv_mss, unacked, ...); for a
# listening socket the kernel reports its accept backlog as tcpi_unacked.
_TCP_INFO = struct.Struct("=8B5I")
_LATE_TICKS = 2  # consecutive late ticks that make a worker late


@dataclass(frozen=True)
class EdgeLimits:
    # Shed new requests while the loop runs later than this (seconds; 0 turns the signal off).
    max_loop_lag_s: float = 0.5
    # Shed while more connections than this wait in the listening socket's accept queue (0: off).
    max_accept_queue: int = 256
    interval_s: float = 0.05


def accept_queue(port: int, proc: Path = Path("/proc/net")) -> int | None:
    """Returns how many connections wait in the accept queue of the socket listening on ``port``
    (every worker shares it), or None where /proc/net/tcp cannot tell (not Linux)."""
    found: int | None = None
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or fields[3] != _LISTEN or not fields[1].endswith(f":{port:04X}"):
                continue
            # For a listening socket rx_queue is the current accept backlog.
            waiting = int(fields[4].split(":")[1], 16)
            found = waiting if found is None else max(found, waiting)
    return found


class ListeningSocket:
    """The accept backlog of the socket this process listens on at ``port``, from the kernel's
    ``TCP_INFO`` (a few system calls). Reading ``/proc/net/tcp`` instead makes the kernel walk its
    whole connection table: 9-11 ms of CPU a read (tcp and tcp6) on this 24 GB machine with nothing
    connected, 4 % of a core per API worker at four reads a second, more with every connection
    (docs/performance.md, stop 31). The socket is the server's own file descriptor, used in place
    and never duplicated: a copy would keep it listening after the server closed it."""

    def __init__(self, port: int, fds: Path = Path("/proc/self/fd")) -> None:
        self.port = port
        self._fds = fds
        self._fd: int | None = None
        self._searched = False

    def backlog(self) -> int | None:
        """Connections waiting to be accepted, or None where the socket is not in this process
        (looked for once), ``TCP_INFO`` is not available (not Linux), or a default socket timeout
        is set (a socket object made over a descriptor would switch it to non-blocking then, and
        the search makes one over every descriptor of the process)."""
        if not hasattr(socket, "TCP_INFO") or socket.getdefaulttimeout() is not None:
            return None
        if self._fd is None and not self._searched:
            self._searched = True
            self._fd = self._find()
        if self._fd is None:
            return None
        waiting = self._read(self._fd)
        if waiting is None:
            self._fd = None  # closed (the server stopping) or its number reused: not ours any more
        return waiting

    def _find(self) -> int | None:
        try:
            names = os.listdir(self._fds)
        except OSError:
            return None
        for name in names:
            if name.isdigit() and self._read(int(name)) is not None:
                return int(name)
        return None

    def _read(self, fd: int) -> int | None:
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            return None  # not a socket, or gone
        try:
            if (
                sock.family not in (socket.AF_INET, socket.AF_INET6)
                or sock.type != socket.SOCK_STREAM
                or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                or sock.getsockname()[1] != self.port
            ):
                return None
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size)
            return int(_TCP_INFO.unpack_from(info)[12])
        except OSError:
            return None
        finally:
            sock.detach()  # the descriptor stays the server's, open


class EdgeMonitor:
    """Samples the loop's lag and the accept queue; decides whether new requests are shed."""

    def __init__(self, limits: EdgeLimits) -> None:
        self.limits = limits
        self.lag_s = 0.0
        self.queued: int | None = None
        self.port: int | None = None
        self.shedding = False
        self.shed = 0
        self._late_ticks = 0
        # When the monitor's next tick is due (never, until it runs: a start-up that blocked the loop
        # for seconds is not a lag requests should be refused for).
        self._next_tick = math.inf

    def observe(self, lag_s: float, queued: int | None) -> None:
        self.lag_s, self.queued = lag_s, queued
        EDGE_SIGNALS.labels("loop_lag_seconds").set(lag_s)
        LOOP_LAG.observe(lag_s)
        if queued is not None:
            EDGE_SIGNALS.labels("accept_queue").set(queued)
        self._decide(lag_s)

    def _decide(self, lag_s: float) -> None:
        limits = self.limits
        # Late on consecutive ticks: a worker that keeps falling behind, not one pause (a start-up
        # step, a collection) that is over by the time anyone could be refused for it.
        self._late_ticks = self._late_ticks + 1 if limits.max_loop_lag_s > 0 and lag_s > limits.max_loop_lag_s else 0
        late = self._late_ticks >= _LATE_TICKS
        backlog = limits.max_accept_queue > 0 and self.queued is not None and self.queued > limits.max_accept_queue
        if not self.shedding and (late or backlog):
            self.shedding = True
            _log.warning("shedding at the edge: loop lag %.0f ms, accept queue %s", lag_s * 1000, self.queued)
        elif self.shedding and not backlog and lag_s < limits.max_loop_lag_s / 2:
            self.shedding = False
            _log.warning("edge shedding over: loop lag %.0f ms", lag_s * 1000)

    def should_shed(self, now: float) -> bool:
        if self.shedding:
            return True
        # Falling behind and the next tick overdue right now: shed without waiting for that tick.
        bound = self.limits.max_loop_lag_s
        return bound > 0 and self._late_ticks >= _LATE_TICKS - 1 and now - self._next_tick > bound

    async def run(self) -> None:
        interval = self.limits.interval_s
        ticks = 0
        listening: ListeningSocket | None = None
        while True:
            self._next_tick = time.monotonic() + interval
            await asyncio.sleep(interval)
            lag = max(0.0, time.monotonic() - self._next_tick)
            ticks += 1
            queued = self.queued
            if self.port is not None and self.limits.max_accept_queue > 0:
                if listening is None or listening.port != self.port:
                    listening = ListeningSocket(self.port)
                backlog = listening.backlog()
                if backlog is not None:
                    queued = backlog
                elif ticks % _QUEUE_EVERY == 0:
                    # /proc/net/tcp walks every connection: read a few times a second, off the loop.
                    queued = await asyncio.to_thread(accept_queue, self.port)
            self.observe(lag, queued)


class EdgeShedMiddleware:
    """The outermost layer: refuses new API requests at once while the worker is late, or when its
    admission would refuse them anyway (``admission``; ``deadline_s`` is the latest deadline a
    request can carry, the server's own)."""

    def __init__(
        self, app: ASGIApp, monitor: EdgeMonitor, admission: Admission | None = None, deadline_s: float = 6.0
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.admission = admission
        self.deadline_s = deadline_s

    def refusal(self, scope: Scope, now: float) -> Shed | None:
        """The admission's answer to a request that arrives now (by its client's deadline, when it
        sends one), if it is a refusal (counted as one); otherwise notes in its scope that its wait
        was weighed here, so that admission does not weigh it again after auth and a rate-limit
        round trip (a refusal then came tens to hundreds of milliseconds after arrival on a busy
        loop: every refusal that took the server itself over 50 ms in the 500- and 1,000-user steps)."""
        if self.admission is None:
            return None
        core, method, path = self.admission.core, scope["method"], scope["path"]
        priority = priority_of(method, path)
        if core.must_queue(priority):
            deadline_at = now + requested_deadline(scope, self.deadline_s, since_arrival(scope))
            if refused := core.refusal(priority, deadline_at, now, kind_of(path)):
                core.count_shed(now)
                ADMISSION.labels("shed").inc()
                return refused
        scope["state"][EDGE_JUDGED] = True
        return None

    async def hold(self, scope: Scope, now: float) -> float:
        """Holds a request whose client came back before its Retry-After until that has passed
        (tarpit.py); returns the time it is judged at."""
        assert self.admission is not None
        held = self.admission.tarpit.hold_s(scope, now, self.deadline_s)
        if held <= 0:
            return now
        ADMISSION.labels("held").inc()
        HELD_TIME.observe(held)
        scope["state"][HELD_FOR] = held
        await asyncio.sleep(held)
        return time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            monitor = self.monitor
            if monitor.port is None and scope.get("server"):
                monitor.port = scope["server"][1]  # the socket to watch: the one this request came in on
            path = scope["path"]
            if path.startswith(_SHED) and not path.startswith(_EXEMPT):
                now = time.monotonic()
                mark_arrival(scope, now)
                if self.admission is not None:
                    now = await self.hold(scope, now)
                error: Shed | None = None
                if monitor.should_shed(now):
                    monitor.shed += 1
                    ADMISSION.labels("shed_edge").inc()
                    error = Shed("The server is overloaded right now; retry in a moment.", retry_after_s=1.0)
                else:
                    error = self.refusal(scope, now)
                if error is not None:
                    await refuse(send, error, scope, "edge", self.admission.tarpit if self.admission else None)
                    return
        await self.app(scope, receive, send)
