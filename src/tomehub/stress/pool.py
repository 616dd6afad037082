"""Load from several OS processes: one asyncio LoadClient per process, one run.

One asyncio process lagged by seconds at 500 and 1,000 users (docs/stress-results.md): its figures
were partly its own. ``LoadPool`` is the LoadClient a scenario sees; its ``closed_loop`` and
``open_loop`` hand each child process a share of the users (user ids i, i + N, i + 2N, ...) or of the
arrival schedule, so scenarios do not know how many processes run. Requests a scenario sends itself
(``call``, streams, uploads) go from the parent, as before.

Children stream their records and self-check samples back over a queue every half second; the
parent gives each record its phase from the phase timeline by its start time (every process counts
from the parent's ``started`` on the machine's one monotonic clock), so a phase may change while the
children run (scenario 2 does). A request function must pickle to reach a child (base.py's ``search``
and ``ask`` do); one that does not runs in the parent.
"""

from __future__ import annotations

import asyncio
import bisect
import importlib
import itertools
import math
import multiprocessing as mp
import os
import pickle
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tomehub.stress.load import LoadClient, RequestFn, RetryPolicy
from tomehub.stress.records import Record
from tomehub.stress.selfcheck import Probe, SelfCheck

# One load process per this many users (at most one per core). Measured: one process driving scenario 5's
# 200 users without pause ran at 71-100 % of a core with its loop 913 ms late at p99.
USERS_PER_PROCESS = 100
_FLUSH_S = 0.5
_STOP_SLOTS = 256  # concurrent jobs told apart by their stop flag (job id modulo this)
_POLL_S = 0.02


def default_processes(users: int, cores: int | None = None) -> int:
    """One process per USERS_PER_PROCESS users, at least one, at most one per core."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, math.ceil(users / USERS_PER_PROCESS)))


def phase_at(timeline: Sequence[tuple[float, str]], start: float) -> str:
    """The phase a request starting at ``start`` belongs to: the last one begun at or before it."""
    i = bisect.bisect_right([t for t, _ in timeline], start)
    return timeline[i - 1][1] if i else ""


def merge(records: list[Record], batch: list[Record], timeline: Sequence[tuple[float, str]]) -> None:
    """Adds a child's records to the run's, each given its phase by its start time."""
    for record in batch:
        record.phase = phase_at(timeline, record.start)
    records.extend(batch)


@dataclass(frozen=True)
class ChildConfig:
    base_url: str
    tokens: list[str]
    sla_s: float
    started: float
    deadline_at: bool
    # Modules the request functions live in, imported before the child says it is ready (else the
    # first job's unpickling imports them, and its users start a second late on a loaded machine).
    preload: tuple[str, ...] = ("tomehub.stress.scenarios.base",)


@dataclass
class LoadPool(LoadClient):
    """A LoadClient whose closed and open loops run in ``processes`` child processes (1: in this one)."""

    processes: int = 1
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._children: list[Any] = []
        self._commands: list[Any] = []
        self._done: dict[int, dict[int, str | None]] = {}
        self._ready: set[int] = set()
        self._gone: set[int] = set()
        self._jobs = itertools.count(1)
        self._drainer: threading.Thread | None = None

    def set_phase(self, name: str) -> None:
        super().set_phase(name)
        self.timeline.append((self.now(), name))

    def start(self) -> None:
        """Starts the child processes (they import and connect while the run is seeded)."""
        if self.processes <= 1 or self._children:
            return
        ctx = mp.get_context("spawn")  # never fork a process that runs an event loop and threads
        self._results: Any = ctx.Queue()
        self._stop: Any = ctx.RawArray("b", _STOP_SLOTS)
        config = ChildConfig(self.base_url, self.tokens, self.sla_s, self.started, self.deadline_at)
        for index in range(1, self.processes + 1):
            commands = ctx.Queue()
            child = ctx.Process(
                target=child_main, args=(index, config, commands, self._results, self._stop), daemon=True
            )
            child.start()
            self._children.append(child)
            self._commands.append(commands)
        self._drainer = threading.Thread(target=self._drain, name="load-pool-drain", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        """Takes the children's messages (in a thread: the parent's loop may be busy or idle)."""
        while len(self._gone) < len(self._children):
            try:
                message = self._results.get(timeout=1.0)
            except queue.Empty:
                if not any(c.is_alive() for c in self._children):
                    return
                continue
            kind, index = message[0], message[1]
            if kind == "batch":
                _, _, records, lags, cpu = message
                try:
                    merge(self.records, records, self.timeline)
                    self.checks.add(index, lags, cpu)
                except Exception:  # one bad batch must not leave the run waiting for ever
                    traceback.print_exc()
            elif kind == "ready":
                self._ready.add(index)
            elif kind == "done":
                self._done.setdefault(message[2], {})[index] = message[3]
            elif kind == "bye":
                self._gone.add(index)

    async def ready(self) -> None:
        """Waits until every child process is up (a phase's clock should not run while they import)."""
        while len(self._ready) < len(self._children):
            self._check_alive()
            await asyncio.sleep(_POLL_S)

    async def _run_job(self, shares: dict[int, tuple[Any, ...]], until: Callable[[], bool]) -> None:
        """Sends each child its command, raises the stop flag once ``until()``, waits for them all."""
        await self.ready()
        job = next(self._jobs)
        slot = job % _STOP_SLOTS
        self._stop[slot] = 0
        for index, command in shares.items():
            self._commands[index - 1].put((job, slot, *command))
        try:
            while len(self._done.get(job, {})) < len(shares):
                if not self._stop[slot] and until():
                    self._stop[slot] = 1
                self._check_alive()
                await asyncio.sleep(_POLL_S)
        finally:
            self._stop[slot] = 1  # also when the scenario fails or is cancelled: the children stop
        errors = [e for e in self._done.pop(job).values() if e]
        if errors:
            raise RuntimeError("a load process failed:\n" + errors[0])

    def _check_alive(self) -> None:
        if self._drainer is not None and not self._drainer.is_alive():
            raise RuntimeError("the thread reading the load processes' records stopped")
        dead = [i for i, c in enumerate(self._children, 1) if not c.is_alive() and i not in self._gone]
        if dead:
            raise RuntimeError(f"load process {dead[0]} exited (code {self._children[dead[0] - 1].exitcode})")

    def _distributable(self, request: RequestFn) -> bool:
        if not self._children:
            return False
        try:
            pickle.dumps(request)
        except (pickle.PicklingError, AttributeError, TypeError):
            return False
        return True

    async def closed_loop(
        self,
        request: RequestFn,
        *,
        users: int | Sequence[int],
        until: Callable[[], bool],
        think_s: tuple[float, float] = (0.5, 1.5),
        retry: RetryPolicy = "honour",
    ) -> None:
        if not self._distributable(request):
            await super().closed_loop(request, users=users, until=until, think_s=think_s, retry=retry)
            return
        ids = list(range(users) if isinstance(users, int) else users)
        n = len(self._children)
        shares = {i + 1: ("closed", request, ids[i::n], think_s, retry) for i in range(n) if ids[i::n]}
        await self._run_job(shares, until)

    async def open_loop(
        self, request: RequestFn, *, rate_per_s: float, duration_s: float, users: int, first: int = 0, step: int = 1
    ) -> None:
        if not self._distributable(request):
            await super().open_loop(request, rate_per_s=rate_per_s, duration_s=duration_s, users=users)
            return
        n = len(self._children)
        shares = {i + 1: ("open", request, rate_per_s, duration_s, users, i, n) for i in range(n)}
        end = time.monotonic() + duration_s + self.sla_s + 5
        await self._run_job(shares, lambda: time.monotonic() > end)

    async def close(self) -> None:
        if self._children:
            self._stop[:] = [1] * _STOP_SLOTS
        for commands in self._commands:
            commands.put(None)
        deadline = time.monotonic() + 15
        if self._drainer is not None:
            await asyncio.to_thread(self._drainer.join, 15)
        for child in self._children:
            child.join(timeout=max(0.1, deadline - time.monotonic()))
            if child.is_alive():
                child.terminate()
        await super().close()


def child_main(index: int, config: ChildConfig, commands: Any, results: Any, stop: Any) -> None:
    """A load process: runs the jobs it is sent on its own LoadClient until told to stop."""
    asyncio.run(_child(index, config, commands, results, stop))


async def _child(index: int, config: ChildConfig, commands: Any, results: Any, stop: Any) -> None:
    for module in config.preload:
        importlib.import_module(module)
    client = LoadClient(
        config.base_url,
        config.tokens,
        sla_s=config.sla_s,
        started=config.started,
        deadline_at=config.deadline_at,
        process=index,
    )
    checks = SelfCheck()
    probe = asyncio.create_task(Probe(checks, index, config.started).run())

    def flush() -> None:
        records, client.records = client.records, []
        lags, cpu = checks.drain(index)
        if records or lags or cpu:
            results.put(("batch", index, records, lags, cpu))

    async def flusher() -> None:
        while True:
            await asyncio.sleep(_FLUSH_S)
            flush()

    async def run(job: int, slot: int, kind: str, request: RequestFn, *args: Any) -> None:
        error = None
        try:
            reseed = getattr(request, "reseed", None)
            if reseed is not None:
                reseed(f"{job}:{index}")  # each process and job its own questions, not copies
            stopped = lambda: bool(stop[slot])  # noqa: E731
            if kind == "closed":
                users, think_s, retry = args
                await client.closed_loop(request, users=users, until=stopped, think_s=think_s, retry=retry)
            else:
                rate, duration, users, first, step = args
                await client.open_loop(
                    request, rate_per_s=rate, duration_s=duration, users=users, first=first, step=step
                )
        except Exception:
            error = traceback.format_exc()
        flush()
        results.put(("done", index, job, error))

    loop = asyncio.get_running_loop()
    flushing = asyncio.create_task(flusher())
    jobs: set[asyncio.Task[None]] = set()
    results.put(("ready", index))
    while (command := await loop.run_in_executor(None, commands.get)) is not None:
        task = asyncio.create_task(run(*command))
        jobs.add(task)
        task.add_done_callback(jobs.discard)
    await asyncio.gather(*jobs)
    flushing.cancel()
    probe.cancel()
    flush()
    results.put(("bye", index))
    await client.close()
