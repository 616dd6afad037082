"""Admission control: a per-worker concurrency limit with a bounded priority queue.

The reference system let 84 of 100 requests wait in the server's backlog until clients gave up, then
refused connections. Here a worker works on at most ``max_in_flight`` requests; the next ones wait in
a queue that is bounded (``max_queue``) and ordered by priority (interactive search and answers
before background work such as uploads), each carrying its deadline. A waiter whose deadline passes
is dropped before any work is done for it; when the queue is full the request is refused at once
with 503 and Retry-After — a fast, explicit answer instead of a timeout or a refused connection.

Dropping a waiter at its deadline is too late for its client, who gave up at the same moment. So a
request is also refused on arrival when the queue ahead of it predicts it cannot be served in time.
Its wait is (new requests waiting ahead + 1) x the measured interval between two new requests let
in from the queue while it stayed busy: the queue's real drain rate, which includes the requests
coming back from a provider call (they cut ahead) and the time a freed slot waits for its next
request's task to run on a busy loop. Until a busy period has been seen it falls back to (waiters
ahead + 1) x slot time / slots, with the slot time of whole requests (a search holds a slot before
and after its provider call; counting each holding as a request, as this did before, predicts about
half the wait, and 500 users still timed out in the queue) of the arriving request's own kind (its
route, ``kind_of``): a burst of searches after a few slow uploads is not priced as uploads, and a
kind not yet seen to end predicts nothing. A request is refused at
once when its wait is longer than ``max_queue_wait_s`` or would leave it less than the time a
request needs at least (``min_service_s``, or the slot time when shorter): the services degrade to
fit the time left, so a request admitted late is still answered. A waiter reaching the head of the queue with
less than that left is refused then, before its client gives up, rather than admitted to fail.
The count bound (``max_queue``) stays as a backstop. The edge (edge.py) asks ``refusal`` too,
before a request costs auth and a rate-limit check.

A prediction cannot see the requests now waiting on a provider, which come back ahead of every new
one: at 1,000 users requests admitted to the queue for a predicted second waited four and were
refused at their deadline, six seconds after they came. So the queue's growth is stopped where it
starts, with CoDel's test (as Facebook's "controlled delay" queues apply it to servers): the queue
**stands** when every new request let in from it for ``standing_after_s`` (or the kind's slot time,
when longer) had waited ``standing_queue_wait_s`` or more, or none was let in while the oldest
waited that long past it. A busy queue of short waits is no overload (a first version counted any
queue without an empty moment, and refused 42-290 requests of the 200-user ramp step, against 12-22
with this test). While the queue stands, a request that would have to join it is refused on arrival
(at the edge, before auth); a standing queue holds no work the slots would not have had anyway, so
they stay busy as long as requests keep coming.

A request let into the queue is never refused for having waited, only dropped when its deadline no
longer leaves the least time a request needs: a refusal after a wait costs its client the wait and
the answer both. (Until stop 26 waiters of a standing queue were refused once they had waited
``standing_queue_wait_s``: at 1,000 users that refused 4,000-5,000 requests a ramp step after
~200 ms in the queue each; docs/stress-results.md.)

``AdmissionCore`` is the pure queue logic (clock injected); ``Admission`` puts futures around it;
``AdmissionMiddleware`` applies it to HTTP requests.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tomehub.errors import Unavailable, openai_path, send_error
from tomehub.metrics import ADMISSION, ADMISSION_WAIT, SHED_TIME
from tomehub.resilience.deadline import Deadline
from tomehub.resilience.memory import MemoryState, MemoryWatchdog
from tomehub.resilience.tarpit import MAX_RETRY_AFTER_S, Tarpit

Clock = Callable[[], float]


# Refusals further apart than this belong to two overloads (retry_after).
_OVERLOAD_GAP_S = 1.0
# Slot times are learned per kind of request; a worker serving more distinct routes than this
# learns the rest under one kind.
_MAX_KINDS = 64
_OTHER_KIND = "other"


def kind_of(path: str) -> str:
    """The kind of request whose slot time is learned together: the first two path segments
    (``/api/smart-search``, ``/v1/chat``, ``/mcp``), so ids further down make no new kind."""
    return "/".join(path.split("/", 3)[:3])


class Priority(IntEnum):
    # A request coming back from a provider call (io_wait): already admitted, served first.
    RESUMING = -1
    INTERACTIVE = 0
    BACKGROUND = 1


class Shed(Unavailable):
    """The worker is full and so is its queue (or the deadline passed while waiting)."""

    code = "overloaded"


@dataclass(frozen=True)
class AdmissionLimits:
    max_in_flight: int = 32
    max_queue: int = 128
    # Background requests may fill at most this share of the queue and hold at most this share of
    # the slots: under pressure they go first, and uploads never take every slot from searches.
    background_queue_share: float = 0.25
    background_slot_share: float = 0.25
    # Refuse on arrival a request predicted to wait past its deadline, or longer than
    # max_queue_wait_s (see the module docstring).
    shed_predicted_late: bool = True
    max_queue_wait_s: float = 2.0
    # The least time a request needs once admitted (a keyword search, quoted answers).
    min_service_s: float = 1.0
    # Requests that may wait on a provider at once without holding a slot (io_wait); past that a
    # provider call keeps its slot.
    max_io_waits: int = 512
    # The queue stands when the requests let in for this long all waited standing_queue_wait_s or
    # more; then a request that would join it is refused on arrival (see the module docstring).
    standing_after_s: float = 0.1
    standing_queue_wait_s: float = 0.05


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    deadline_at: float = field(compare=False)
    kind: str = field(compare=False, default="")
    joined_at: float = field(compare=False, default=0.0)  # when it joined the queue
    future: asyncio.Future[None] | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)


class AdmissionCore:
    """Counts requests in flight and orders the waiting ones; no I/O, no sleeping."""

    def __init__(self, limits: AdmissionLimits) -> None:
        self.limits = limits
        self.in_flight = 0
        self.background_in_flight = 0
        self.io_waiting = 0
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self.shed = 0
        self.expired = 0
        # Moving average per kind of how long a request holds slots in all (absent until one ended).
        self.hold_s: dict[str, float] = {}
        # Moving average of the time between two new requests let in from a busy queue (None until
        # measured): the queue's real drain rate, slower than the slot time alone suggests.
        self.grant_interval_s: float | None = None
        self._last_grant: float | None = None
        # Since when every new request let in from the queue had waited standing_queue_wait_s or
        # more (None: the latest waited less, or the queue emptied): CoDel's "first above time".
        self._above_since: float | None = None
        # The current overload: since when requests are being refused, and the latest refusal.
        self._overload_since = 0.0
        self._last_shed_at: float | None = None

    @property
    def queued(self) -> int:
        return sum(1 for w in self._queue if not w.cancelled)

    @property
    def background_slots(self) -> int:
        return max(1, int(self.limits.max_in_flight * self.limits.background_slot_share))

    def _may_start(self, priority: int) -> bool:
        if self.in_flight >= self.limits.max_in_flight:
            return False
        return priority != Priority.BACKGROUND or self.background_in_flight < self.background_slots

    def _start(self, priority: int) -> None:
        self.in_flight += 1
        if priority == Priority.BACKGROUND:
            self.background_in_flight += 1

    def offer(
        self, priority: Priority, deadline_at: float, now: float, kind: str = "", judged: bool = False
    ) -> _Waiter | None:
        """Admits at once (returns None), queues (returns the waiter) or raises Shed. ``judged``: the
        edge has already weighed this request's wait on its arrival and let it in; only a full queue
        refuses it now (its wait is not judged twice, tens of milliseconds apart)."""
        if priority is Priority.RESUMING:
            # Admitted work coming back from a provider: never refused (its answer is ready); it
            # takes the next free slot ahead of every new request.
            if self.in_flight < self.limits.max_in_flight and not any(
                not w.cancelled and w.priority < 0 for w in self._queue
            ):
                self._start(priority)
                return None
            waiter = _Waiter(int(priority), next(self._seq), float("inf"))
            heapq.heappush(self._queue, waiter)
            return waiter
        if deadline_at <= now:
            self.expired += 1
            raise Shed("The request's deadline passed before it could start.", retry_after_s=1.0)
        # Nobody ahead: an interactive request waits only behind interactive ones (background
        # waiters may be held back by their share of the slots), a background one behind anybody.
        if not self.must_queue(priority):
            self._start(priority)
            return None
        refusal = self.refusal(priority, deadline_at, now, kind, predicted=not judged)
        if refusal is not None:
            self.count_shed(now)
            raise refusal
        waiter = _Waiter(int(priority), next(self._seq), deadline_at, kind, now)
        heapq.heappush(self._queue, waiter)
        return waiter

    def _interval(self, kind: str) -> float | None:
        """How long waits must stay over the bound for the queue to stand, for a request of
        ``kind``: ``standing_after_s``, or its kind's slot time when longer (a slot held 0.4 s by an
        in-process embedder makes waits that long without any overload); None while no request of
        its kind has ended (as for the prediction: nothing is known yet)."""
        hold = self._hold(kind)
        return None if hold is None else max(self.limits.standing_after_s, hold)

    def _new_waiters(self) -> Iterator[_Waiter]:
        """The new requests waiting (not those coming back from a provider, nor cancelled ones)."""
        return (w for w in self._queue if not w.cancelled and w.priority >= 0)

    def _oldest_new(self) -> _Waiter | None:
        return min(self._new_waiters(), key=lambda w: w.joined_at, default=None)

    def standing(self, now: float, kind: str = "") -> bool:
        """Whether the queue stands (overload, not a burst): every new request let in for the
        standing interval had waited ``standing_queue_wait_s`` or more, or none was let in while the
        oldest waited that long past the interval."""
        interval = self._interval(kind)
        if interval is None:
            return False
        if self._above_since is not None and now - self._above_since >= interval:
            return True
        oldest = self._oldest_new()
        return oldest is not None and now - oldest.joined_at >= interval + self.limits.standing_queue_wait_s

    def wait_bound(self, now: float, kind: str = "") -> float:
        """The longest predicted wait with which a new request may join the queue now (a longer one
        is refused at once): none while the queue stands, else ``max_queue_wait_s``."""
        return 0.0 if self.standing(now, kind) else self.limits.max_queue_wait_s

    def count_shed(self, now: float) -> None:
        """Counts a request refused for want of a slot; refusals less than a second apart make
        one overload, whose age sets ``retry_after``."""
        self.shed += 1
        if self._last_shed_at is None or now - self._last_shed_at > _OVERLOAD_GAP_S:
            self._overload_since = now
        self._last_shed_at = now

    def retry_after(self, now: float, wait: float = 0.0) -> float:
        """Seconds a refused client is asked to wait: its predicted wait, and during an overload at
        least as long as the overload has lasted (one that has lasted t seconds is likely to last
        about as long again). A fixed second brought every refused client back into it at once:
        at 1,000 users the worker refused ~440 requests a second, a quarter of its CPU."""
        overload = 0.0
        if self._last_shed_at is not None and now - self._last_shed_at <= _OVERLOAD_GAP_S:
            overload = now - self._overload_since
        return min(max(1.0, wait, overload), MAX_RETRY_AFTER_S)

    def _note_queue(self) -> None:
        """An empty queue (no new request waiting) ends a standing one."""
        if not any(self._new_waiters()):
            self._above_since = None

    def refusal(
        self, priority: Priority, deadline_at: float, now: float, kind: str = "", predicted: bool = True
    ) -> Shed | None:
        """Why a request of ``priority`` and ``kind`` that would have to queue now is refused (None: it may wait):
        the queue is full for its priority, or (``shed_predicted_late`` and ``predicted``) its
        predicted wait is past the bound or would leave it too little time before ``deadline_at``.
        Asked at the edge (edge.py), before a request costs auth and a rate-limit round trip."""
        room = self.limits.max_queue
        if priority is Priority.BACKGROUND:
            room = int(room * self.limits.background_queue_share)
        if self.queued >= room:
            return Shed("The server is at capacity; retry in a moment.", retry_after_s=self.retry_after(now))
        if not (self.limits.shed_predicted_late and predicted):
            return None
        wait = self.predicted_wait(priority, kind)
        if wait is not None and (
            wait > self.wait_bound(now, kind) or now + wait + self.min_service(kind) > deadline_at
        ):
            return Shed(
                f"The server is busy: this request would wait about {wait:.1f} s for its turn; retry in a moment.",
                retry_after_s=self.retry_after(now, wait),
            )
        return None

    def must_queue(self, priority: Priority) -> bool:
        """Whether a request of ``priority`` arriving now would have to wait for a slot."""
        ahead = any(not w.cancelled and w.priority <= int(priority) for w in self._queue)
        return ahead or not self._may_start(priority)

    def _learned_as(self, kind: str) -> str:
        """The kind ``kind``'s slot time is learned under: itself, or past the bound on kinds "other"."""
        return kind if kind in self.hold_s or len(self.hold_s) < _MAX_KINDS else _OTHER_KIND

    def _hold(self, kind: str) -> float | None:
        """The slot time learned for ``kind`` (None until one of its kind has ended)."""
        return self.hold_s.get(self._learned_as(kind))

    def min_service(self, kind: str = "") -> float:
        """The least time worth admitting a request of ``kind`` with."""
        hold = self._hold(kind)
        return self.limits.min_service_s if hold is None else min(hold, self.limits.min_service_s)

    def predicted_wait(self, priority: Priority, kind: str = "") -> float | None:
        """Seconds a request of ``priority`` and ``kind`` arriving now would wait for a slot (None:
        not known yet)."""
        if self.grant_interval_s is not None:
            # Measured: how often the queue let a new request in while it stayed busy. Requests
            # coming back from a provider are inside that interval, so only new ones count ahead.
            ahead = sum(1 for w in self._queue if not w.cancelled and 0 <= w.priority <= int(priority))
            return (ahead + 1) * self.grant_interval_s
        hold = self._hold(kind)
        if hold is None:
            return None
        ahead = sum(1 for w in self._queue if not w.cancelled and w.priority <= int(priority))
        return (ahead + 1) * hold / self.limits.max_in_flight

    def _granted(self, waiter: _Waiter, now: float) -> None:
        """Learns the queue's drain rate from a new request let in from it: the time since the last
        one, when new requests waited all along in between (a busy period, not an idle gap)."""
        if waiter.priority < 0:
            return
        if now - waiter.joined_at < self.limits.standing_queue_wait_s:
            self._above_since = None  # a short wait: whatever queue there is drains in time
        elif self._above_since is None:
            self._above_since = now
        if self._last_grant is not None:
            interval = now - self._last_grant
            old = self.grant_interval_s
            self.grant_interval_s = interval if old is None else 0.9 * old + 0.1 * interval
        still_waiting = any(self._new_waiters())
        self._last_grant = now if still_waiting else None

    def observe(self, held_s: float, kind: str = "") -> None:
        """Learns from a request of ``kind`` that has ended after holding slots for ``held_s`` in all."""
        kind = self._learned_as(kind)
        old = self.hold_s.get(kind)
        self.hold_s[kind] = held_s if old is None else 0.8 * old + 0.2 * held_s

    def release(
        self, now: float, held_s: float | None = None, priority: Priority = Priority.INTERACTIVE, kind: str = ""
    ) -> tuple[_Waiter | None, list[_Waiter]]:
        """Frees a slot of ``priority`` (``held_s``: the request, of ``kind``, is over and held slots
        that long in all); returns the waiter admitted into it (if any) and the expired ones dropped."""
        if held_s is not None:
            self.observe(held_s, kind)
        self.in_flight -= 1
        if priority is Priority.BACKGROUND:
            self.background_in_flight -= 1
        dropped: list[_Waiter] = []
        held_back: list[_Waiter] = []
        admitted: _Waiter | None = None
        while self._queue:
            waiter = heapq.heappop(self._queue)
            if waiter.cancelled:
                continue
            too_late = now + (self.min_service(waiter.kind) if self.limits.shed_predicted_late else 0.0)
            if waiter.deadline_at <= too_late:
                self.expired += 1
                dropped.append(waiter)
                continue
            if not self._may_start(waiter.priority):
                held_back.append(waiter)  # a background waiter over its share of the slots
                continue
            self._start(waiter.priority)
            admitted = waiter
            break
        for waiter in held_back:
            heapq.heappush(self._queue, waiter)
        if admitted is not None:
            self._granted(admitted, now)
        self._note_queue()
        return admitted, dropped

    def cancel(self, waiter: _Waiter) -> None:
        waiter.cancelled = True
        self._note_queue()


class Admission:
    """The core with futures: ``await admission.enter(...)`` waits its turn or raises Shed."""

    def __init__(self, limits: AdmissionLimits, *, clock: Clock = time.monotonic) -> None:
        self.core = AdmissionCore(limits)
        self.clock = clock
        # Every refusal's Retry-After, remembered per client: the edge holds one that comes back early.
        self.tarpit = Tarpit(clock=clock)

    async def enter(self, priority: Priority, deadline: Deadline | None, kind: str = "", judged: bool = False) -> None:
        """Waits for a slot until ``deadline`` (None: as long as it takes, for RESUMING requests);
        ``judged``: the edge let it in (see ``AdmissionCore.offer``)."""
        asked = self.clock()
        try:
            deadline_at = math.inf if deadline is None else deadline.expires_at
            waiter = self.core.offer(priority, deadline_at, asked, kind, judged)
        except Shed:
            ADMISSION.labels("shed").inc()
            raise
        waited = ADMISSION_WAIT.labels(priority.name.lower())
        if waiter is None:
            ADMISSION.labels("admitted").inc()
            waited.observe(0.0)
            return
        ADMISSION.labels("queued").inc()
        waiter.future = asyncio.get_running_loop().create_future()
        try:
            # Waits until admitted, or dropped (release) when its deadline no longer leaves the time
            # a request needs; the timeout is the deadline itself, a backstop.
            timeout = None if deadline is None else max(0.0, deadline.remaining())
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout=timeout)
            waited.observe(self.clock() - asked)
        except TimeoutError:
            if waiter.future.done() and not waiter.future.exception():
                # Admitted in the same instant the wait timed out: give the slot back.
                self.leave(priority=priority)
            self.core.cancel(waiter)
            self.core.expired += 1
            ADMISSION.labels("expired").inc()
            raise Shed("The request's deadline passed while it waited to start.", retry_after_s=1.0) from None
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and not waiter.future.exception():
                self.leave(priority=priority)
            self.core.cancel(waiter)
            raise

    def leave(self, held_s: float | None = None, priority: Priority = Priority.INTERACTIVE) -> None:
        """Frees a slot of ``priority`` (``held_s``: the request is over and held slots that long in
        all, to learn how long requests take)."""
        admitted, dropped = self.core.release(self.clock(), held_s, priority)
        for waiter in dropped:
            ADMISSION.labels("expired").inc()
            if waiter.future is not None and not waiter.future.done():
                late = Shed("The request waited too long to be answered before its deadline.", retry_after_s=1.0)
                waiter.future.set_exception(late)
        if admitted is not None and admitted.future is not None and not admitted.future.done():
            admitted.future.set_result(None)


# Paths that are never queued (health checks must answer even when the worker is full).
_EXEMPT = ("/api/health", "/metrics", "/docs", "/openapi.json")
_BACKGROUND = ("/api/ingest",)
# Paths admitted through the queue: the API, the OpenAI-compatible endpoint and MCP.
_ADMITTED = ("/api/", "/v1/", "/mcp")


def priority_of(method: str, path: str) -> Priority:
    if method == "POST" and path.startswith(_BACKGROUND):
        return Priority.BACKGROUND
    return Priority.INTERACTIVE


class AdmissionMiddleware:
    """Pure ASGI: every /api, /v1 and /mcp request passes through the worker's admission before any work.

    A streamed response releases its slot once its headers are sent: streams are bounded by the
    stream limiter, not by request slots, so a slow reader cannot hold a slot for a minute.
    """

    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        *,
        default_deadline_s: float,
        memory: MemoryWatchdog | None = None,
    ) -> None:
        self.app = app
        self.admission = admission
        self.default_deadline_s = default_deadline_s
        self.memory = memory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_EXEMPT) or not scope["path"].startswith(_ADMITTED):
            await self.app(scope, receive, send)
            return
        deadline = scope.get("state", {}).get("deadline") or Deadline.after(self.default_deadline_s)
        priority = priority_of(scope["method"], scope["path"])
        if self.memory is not None and (
            self.memory.state is MemoryState.HARD
            or (self.memory.state is MemoryState.SOFT and priority is Priority.BACKGROUND)
        ):
            low = Shed("The server is low on memory; retry shortly.", retry_after_s=2.0)
            await refuse(send, low, scope, "memory", self.admission.tarpit)
            return
        kind = kind_of(scope["path"])
        try:
            await self.admission.enter(priority, deadline, kind, judged=scope["state"].get(EDGE_JUDGED, False))
        except Shed as exc:
            await refuse(send, exc, scope, "admission", self.admission.tarpit)
            return
        ticket = Ticket(self.admission, priority, self.admission.clock(), kind=kind)
        token = _TICKET.set(ticket)

        async def send_and_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
                    ticket.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            ticket.close()
            _TICKET.reset(token)


@dataclass
class Ticket:
    """A request's hold on a slot: given back at the end, or for the time it waits on a provider."""

    admission: Admission
    priority: Priority
    admitted_at: float
    kind: str = ""
    holding: bool = True
    held_s: float = 0.0  # the time this request held slots before the current holding
    # The request is over: a provider wait that ends after it (a writer's stream finalised once the
    # response has gone) must not take a slot back, for nobody would give that one back.
    closed: bool = False

    def release(self) -> None:
        if self.holding:
            self.holding = False
            self.held_s += self.admission.clock() - self.admitted_at
            self.admission.leave(priority=self.priority)

    def close(self) -> None:
        self.release()
        if not self.closed:
            self.admission.core.observe(self.held_s, self.kind)
        self.closed = True

    async def resume(self) -> None:
        if self.closed:
            return
        await self.admission.enter(Priority.RESUMING, None)
        if self.closed:  # the request ended while this waited for its slot
            self.admission.leave(priority=Priority.RESUMING)
            return
        # The slot is a general one now (RESUMING counts no background share).
        self.priority, self.holding, self.admitted_at = Priority.RESUMING, True, self.admission.clock()


_TICKET: ContextVar[Ticket | None] = ContextVar("tomehub_admission_ticket", default=None)


def overloaded() -> bool:
    """Whether the current request's worker is overloaded (its queue stands): a request may then
    skip work it can answer without (a brownout), so the slots serve more requests instead of
    refusing them."""
    ticket = _TICKET.get()
    if ticket is None:
        return False
    return ticket.admission.core.standing(ticket.admission.clock(), ticket.kind)


@asynccontextmanager
async def io_wait(*, capped: bool = True) -> AsyncIterator[None]:
    """Gives the current request's slot back while it waits on I/O that uses no CPU here (a
    provider call of ~1 s), and takes one again after, ahead of new requests: slots bound the CPU
    work in flight, so a 1.2 s provider wait does not cap a worker at max_in_flight per 1.3 s.

    ``capped``: past ``max_io_waits`` such waits a provider call keeps its slot (the cap bounds the
    calls one worker has open). A wait for another request's work (a coalesced search, cache.py)
    is neither capped nor counted against the cap: it costs nothing, and holding a slot for it can
    deadlock the worker — the request it waits for gives its own slot back for its provider call,
    and then needs a slot to finish, while the requests waiting for it hold every slot (it did, at
    16 concurrent searches of four queries with 8 slots: no request ever ended)."""
    ticket = _TICKET.get()
    core = ticket.admission.core if ticket is not None else None
    if ticket is None or core is None or not ticket.holding or (capped and core.io_waiting >= core.limits.max_io_waits):
        yield
        return
    ticket.release()
    counted = 1 if capped else 0
    core.io_waiting += counted
    try:
        yield
    finally:
        core.io_waiting -= counted
        await ticket.resume()


# What the outermost layer (edge.py) notes in a request's scope state: when it arrived, and that
# its wait was weighed then and found acceptable.
ARRIVED_AT = "tomehub_arrived_at"
EDGE_JUDGED = "tomehub_edge_judged"
HELD_FOR = "tomehub_held_for"  # seconds the edge held the request (tarpit.py)


def mark_arrival(scope: Scope, now: float) -> None:
    scope.setdefault("state", {})[ARRIVED_AT] = now


def since_arrival(scope: Scope) -> float:
    """Seconds since the edge first saw this request (0 where no edge stamped it)."""
    arrived = scope.get("state", {}).get(ARRIVED_AT)
    return 0.0 if arrived is None else max(0.0, time.monotonic() - arrived)


async def refuse(send: Send, exc: Shed, scope: Scope, where: str, tarpit: Tarpit | None = None) -> None:
    """Answers 503 (OpenAI's error shape on /v1) with the refusal's Retry-After, in whole seconds,
    notes it in ``tarpit`` (the edge holds the client's early return) and records how long the
    request was in the worker (``where``: the layer that refused it)."""
    retry_after = max(1, round(exc.retry_after_s or 1))
    if tarpit is not None:
        tarpit.refused(scope, retry_after)
    await send_error(send, exc, [(b"retry-after", str(retry_after).encode())], openai=openai_path(scope["path"]))
    state = scope.get("state", {})
    arrived = state.get(ARRIVED_AT)
    if arrived is not None:
        # The server's own time: a hold is the client's Retry-After, counted on its own (HELD_TIME).
        SHED_TIME.labels(where).observe(time.monotonic() - arrived - state.get(HELD_FOR, 0.0))
