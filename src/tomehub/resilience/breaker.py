"""Circuit breakers that open on a failure *rate* over a sliding window, with a minimum volume.

The reference system had one breaker for every LLM call that opened after 5 consecutive failures
and stayed open for 5 minutes, turning a blip into an outage. TomeHub has one breaker per operation
(search embedding, ingest embedding, generation, judge, query expansion) with this policy:

* closed: calls go through; outcomes land in time buckets; when the window holds at least
  ``min_calls`` outcomes and the share of failures reaches ``failure_rate``, the breaker opens;
* open: calls are refused at once (no waiting for a timeout) until ``open_s`` has passed;
* half-open: at most ``half_open_probes`` calls at a time go through as probes; ``probes_to_close``
  successes close the breaker, one failure opens it again.

Recovery after the provider heals therefore takes about ``open_s`` plus a few probes (seconds, not
minutes). Libraries we looked at (purgatory, pybreaker, aiobreaker) count consecutive failures; none
offers a rate over a window with asyncio and shared state, so the state machine is ours: a pure
function of a snapshot and a clock (``BreakerCore``), tested without sleeping, behind two stores —
in process, or Redis so that every worker process sees the same state.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from tomehub.errors import Unavailable

_log = logging.getLogger(__name__)

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Gauge values for Prometheus: one mapping, used by the metric and by its test.
STATE_VALUES: dict[BreakerState, int] = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    # Not the provider's doing (e.g. our own bulkhead was full): not counted either way.
    IGNORED = "ignored"


class BreakerOpen(Unavailable):
    """The operation's breaker refuses calls right now."""

    code = "breaker_open"


@dataclass(frozen=True)
class BreakerPolicy:
    window_s: float = 30.0
    bucket_s: float = 1.0
    min_calls: int = 10
    failure_rate: float = 0.5
    open_s: float = 10.0
    half_open_probes: int = 2
    probes_to_close: int = 2


@dataclass
class Snapshot:
    """Everything a breaker remembers; what a store keeps."""

    state: BreakerState = BreakerState.CLOSED
    opened_at: float | None = None
    probes_in_flight: int = 0
    probe_successes: int = 0
    # bucket index -> [successes, failures]
    buckets: dict[int, list[int]] = field(default_factory=dict)

    def dumps(self) -> str:
        data = asdict(self)
        data["buckets"] = {str(k): v for k, v in self.buckets.items()}
        return json.dumps(data)

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Snapshot:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            state=BreakerState(data["state"]),
            opened_at=data["opened_at"],
            probes_in_flight=int(data["probes_in_flight"]),
            probe_successes=int(data["probe_successes"]),
            buckets={int(k): [int(v[0]), int(v[1])] for k, v in data["buckets"].items()},
        )


@dataclass(frozen=True)
class Admission:
    allowed: bool
    probe: bool = False
    retry_after_s: float = 0.0


@dataclass(frozen=True)
class Status:
    name: str
    state: BreakerState
    calls: int
    failures: int
    failure_rate: float
    opened_at: float | None
    next_probe_at: float | None


class BreakerCore:
    """The state machine: pure functions of (snapshot, now)."""

    def __init__(self, policy: BreakerPolicy) -> None:
        self.policy = policy

    def bucket(self, now: float) -> int:
        """The index of the time bucket ``now`` falls in."""
        return math.floor(now / self.policy.bucket_s)

    def _trim(self, snap: Snapshot, now: float) -> None:
        oldest = self.bucket(now - self.policy.window_s)
        for key in [k for k in snap.buckets if k <= oldest]:
            del snap.buckets[key]

    def totals(self, snap: Snapshot, now: float) -> tuple[int, int]:
        oldest = self.bucket(now - self.policy.window_s)
        ok = sum(v[0] for k, v in snap.buckets.items() if k > oldest)
        bad = sum(v[1] for k, v in snap.buckets.items() if k > oldest)
        return ok + bad, bad

    def admit(self, snap: Snapshot, now: float) -> Admission:
        """Decides whether a call may start; mutates ``snap`` (half-open transitions, probe slots)."""
        if snap.state is BreakerState.OPEN:
            assert snap.opened_at is not None
            reopen_at = snap.opened_at + self.policy.open_s
            if now < reopen_at:
                return Admission(False, retry_after_s=reopen_at - now)
            snap.state, snap.probes_in_flight, snap.probe_successes = BreakerState.HALF_OPEN, 0, 0
        if snap.state is BreakerState.HALF_OPEN:
            if snap.probes_in_flight >= self.policy.half_open_probes:
                return Admission(False, retry_after_s=self.policy.bucket_s)
            snap.probes_in_flight += 1
            return Admission(True, probe=True)
        return Admission(True)

    def record(self, snap: Snapshot, now: float, outcome: Outcome, *, probe: bool) -> None:
        """Adds a finished call's outcome to ``snap`` and applies the transitions it causes."""
        if probe and snap.state is BreakerState.HALF_OPEN:
            snap.probes_in_flight = max(0, snap.probes_in_flight - 1)
            if outcome is Outcome.FAILURE:
                self._open(snap, now)
            elif outcome is Outcome.SUCCESS:
                snap.probe_successes += 1
                if snap.probe_successes >= self.policy.probes_to_close:
                    snap.state, snap.opened_at, snap.buckets = BreakerState.CLOSED, None, {}
                    snap.probes_in_flight = snap.probe_successes = 0
            return
        if outcome is Outcome.IGNORED:
            return
        self._trim(snap, now)
        bucket = snap.buckets.setdefault(self.bucket(now), [0, 0])
        bucket[0 if outcome is Outcome.SUCCESS else 1] += 1
        if snap.state is BreakerState.CLOSED:
            calls, failures = self.totals(snap, now)
            if calls >= self.policy.min_calls and failures / calls >= self.policy.failure_rate:
                self._open(snap, now)

    def add_successes(self, snap: Snapshot, now: float, successes: dict[int, int]) -> None:
        """Adds successes counted apart (bucket -> count; those already out of the window are
        dropped). Successes alone never change the state."""
        if not successes:
            return
        self._trim(snap, now)
        oldest = self.bucket(now - self.policy.window_s)
        for bucket, count in successes.items():
            if bucket > oldest:
                snap.buckets.setdefault(bucket, [0, 0])[0] += count

    def _open(self, snap: Snapshot, now: float) -> None:
        snap.state, snap.opened_at = BreakerState.OPEN, now
        snap.probes_in_flight = snap.probe_successes = 0

    def status(self, name: str, snap: Snapshot, now: float) -> Status:
        calls, failures = self.totals(snap, now)
        next_probe = None
        if snap.state is BreakerState.OPEN and snap.opened_at is not None:
            next_probe = snap.opened_at + self.policy.open_s
        return Status(
            name=name,
            state=snap.state,
            calls=calls,
            failures=failures,
            failure_rate=round(failures / calls, 4) if calls else 0.0,
            opened_at=snap.opened_at,
            next_probe_at=next_probe,
        )


class BreakerStore(Protocol):
    """Holds breaker snapshots and applies changes atomically."""

    async def read(self, name: str) -> Snapshot: ...

    async def update(self, name: str, change: Callable[[Snapshot], Any]) -> Any:
        """Applies ``change`` to the stored snapshot atomically; returns what ``change`` returned."""
        ...


class MemoryStore:
    """Snapshots in this process (one worker)."""

    def __init__(self) -> None:
        self._snaps: dict[str, Snapshot] = {}

    async def read(self, name: str) -> Snapshot:
        return self._snaps.setdefault(name, Snapshot())

    async def update(self, name: str, change: Callable[[Snapshot], Any]) -> Any:
        # No await between read and write: atomic on the event loop.
        return change(self._snaps.setdefault(name, Snapshot()))


class CircuitBreaker:
    """One operation's breaker over a store (shared or not).

    Over a shared store (``sync_s`` > 0) every admission and every outcome was an optimistic
    transaction on one hot Redis key per operation. At ~50 provider calls a second the transactions
    collided and retried: recording one outcome took 0.25 s on average and up to 2.6 s on the
    1,000-user ramp, while the request held its admission slot (docs/stress-results.md). So a worker
    keeps what it last saw of the shared state for ``sync_s``: while that says closed (or open, with
    its reopen time ahead) a call is admitted (or refused) without asking the store, and successes,
    which never change the state, are counted locally and sent in one update at most every
    ``sync_s``. Failures, probes and every other transition still go to the store at once, so a
    breaker opened by one worker is seen by the others within ``sync_s``.
    """

    def __init__(
        self, name: str, policy: BreakerPolicy, store: BreakerStore, *, clock: Clock = time.time, sync_s: float = 0.0
    ) -> None:
        self.name = name
        self.core = BreakerCore(policy)
        self.store = store
        # Wall-clock time: opened_at is shared between processes (and shown to operators).
        self.clock = clock
        self.sync_s = sync_s
        # What this worker last saw of the shared state, and when (clock time).
        self._seen: tuple[BreakerState, float | None] | None = None
        self._seen_at = -math.inf
        # Successes not sent yet: bucket -> count, and when the first of them was counted.
        self._successes: dict[int, int] = {}
        self._successes_since: float | None = None

    def _see(self, snap: Snapshot, now: float) -> None:
        self._seen, self._seen_at = (snap.state, snap.opened_at), now

    def _known(self, now: float) -> tuple[BreakerState, float | None] | None:
        """The state last seen, while it is recent enough to decide on (None: ask the store)."""
        return self._seen if self.sync_s > 0 and now - self._seen_at < self.sync_s else None

    async def admit(self) -> Admission:
        """Returns the admission of a new call; raises BreakerOpen (fast) when refused."""
        now = self.clock()
        known = self._known(now)
        admission: Admission | None = None
        if known is not None and known[0] is BreakerState.CLOSED:
            admission = Admission(True)
        elif known is not None and known[0] is BreakerState.OPEN and known[1] is not None:
            reopen_at = known[1] + self.core.policy.open_s
            if now < reopen_at:
                admission = Admission(False, retry_after_s=reopen_at - now)
        if admission is None:

            def change(snap: Snapshot) -> Admission:
                decided = self.core.admit(snap, now)
                self._see(snap, now)
                return decided

            admission = await self.store.update(self.name, change)
        if not admission.allowed:
            raise BreakerOpen(
                f"The {self.name} provider is failing; calls are paused for {admission.retry_after_s:.1f} s.",
                retry_after_s=max(admission.retry_after_s, 0.5),
            )
        return admission

    async def record(self, admission: Admission, outcome: Outcome) -> None:
        now = self.clock()
        if self.sync_s > 0 and outcome is not Outcome.FAILURE and not admission.probe:
            if outcome is Outcome.SUCCESS:
                bucket = self.core.bucket(now)
                self._successes[bucket] = self._successes.get(bucket, 0) + 1
                if self._successes_since is None:
                    self._successes_since = now
            if self._successes_since is None or now - self._successes_since < self.sync_s:
                return
            outcome = Outcome.IGNORED  # counted above; sent with the batch below
        successes, self._successes, self._successes_since = self._successes, {}, None

        def change(snap: Snapshot) -> tuple[BreakerState, BreakerState]:
            before = snap.state
            self.core.add_successes(snap, now, successes)
            self.core.record(snap, now, outcome, probe=admission.probe)
            self._see(snap, now)
            return before, snap.state

        before, after = await self.store.update(self.name, change)
        # Logged once per transition, not per refused or degraded call: an outage is one line.
        if after is before:
            return
        if after is BreakerState.OPEN:
            _log.warning("%s breaker opened: the provider is failing; calls pause", self.name)
        elif after is BreakerState.CLOSED:
            _log.warning("%s breaker closed: the provider answers again", self.name)

    async def status(self) -> Status:
        now = self.clock()
        snap = await self.store.read(self.name)
        self._see(snap, now)
        return self.core.status(self.name, snap, now)
