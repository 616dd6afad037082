"""The load generator's self-check: is it measuring the server, or itself?

Every load process runs a probe like the server's edge monitor: a task that asks to wake every
``interval_s`` and records how much later it did (event-loop lag), and once a second the process's
own CPU share (psutil, percent of one core: an asyncio client uses one). The parent also samples the
machine's CPU. A phase (a ramp step, a scenario phase) whose lag p99 exceeds the bound in any load
process, or whose process ran its core flat out, is "not trustworthy": its latencies and timeouts are
partly the generator's own (a late loop starts requests late and notices answers late).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import psutil

from tomehub.stress.records import percentile

# Samples are (seconds since the run started, value).
Sample = tuple[float, float]


@dataclass(frozen=True)
class Bounds:
    # A phase is not trustworthy when a load process's loop lag p99 exceeds this...
    max_lag_ms: float = 100.0
    # ...or its mean CPU over the phase reaches this share of one core (saturated).
    max_cpu_percent: float = 90.0


@dataclass
class SelfCheck:
    """Samples of every load process (0 = the parent), and the machine's CPU."""

    bounds: Bounds = field(default_factory=Bounds)
    lags: dict[int, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[int, list[Sample]] = field(default_factory=lambda: defaultdict(list))
    machine: list[Sample] = field(default_factory=list)

    def add(self, process: int, lags: list[Sample], cpu: list[Sample], machine: list[Sample] | None = None) -> None:
        self.lags[process].extend(lags)
        self.cpu[process].extend(cpu)
        self.machine.extend(machine or [])

    def drain(self, process: int) -> tuple[list[Sample], list[Sample]]:
        """Takes the samples gathered so far for ``process`` (a child ships them to the parent)."""
        lags, cpu = self.lags.pop(process, []), self.cpu.pop(process, [])
        return lags, cpu

    def verdict(self, start: float, end: float, senders: Collection[int] | None = None) -> Verdict:
        """Figures and verdict for the window [start, end) (seconds since the run started). Only
        ``senders`` (the processes that sent requests in the window; None: all) are judged: a late
        parent that was only coordinating its children, or an idle child, skews no figure."""
        processes = []
        reasons = []
        for process in sorted(set(self.lags) | set(self.cpu)):
            lags = [v * 1000 for t, v in list(self.lags.get(process, [])) if start <= t < end]
            cpu = [v for t, v in list(self.cpu.get(process, [])) if start <= t < end]
            if not lags and not cpu:
                continue
            check = ProcessCheck(
                process,
                percentile(lags, 50),
                percentile(lags, 99),
                max(lags, default=float("nan")),
                sum(cpu) / len(cpu) if cpu else float("nan"),
                max(cpu, default=float("nan")),
                senders is None or process in senders,
            )
            processes.append(check)
            if not check.judged:
                continue
            if check.lag_p99_ms > self.bounds.max_lag_ms:
                reasons.append(
                    f"process {process}: loop lag p99 {check.lag_p99_ms:.0f} ms > {self.bounds.max_lag_ms:.0f} ms"
                )
            if check.cpu_mean >= self.bounds.max_cpu_percent:
                reasons.append(
                    f"process {process}: CPU {check.cpu_mean:.0f} % of a core (saturated, bound "
                    f"{self.bounds.max_cpu_percent:.0f} %)"
                )
        machine = [v for t, v in list(self.machine) if start <= t < end]
        return Verdict(processes, sum(machine) / len(machine) if machine else float("nan"), reasons)


@dataclass
class ProcessCheck:
    process: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    cpu_mean: float  # percent of one core
    cpu_max: float
    judged: bool = True  # it sent requests in the window


@dataclass
class Verdict:
    processes: list[ProcessCheck]
    machine_cpu: float  # percent of all cores
    reasons: list[str]

    @property
    def trustworthy(self) -> bool:
        return not self.reasons

    def judged(self) -> list[ProcessCheck]:
        """The processes the verdict rests on (every one, when none sent anything)."""
        return [p for p in self.processes if p.judged] or self.processes

    def worst(self) -> ProcessCheck | None:
        return max(self.judged(), key=lambda p: (p.lag_p99_ms, p.cpu_mean), default=None)

    def label(self) -> str:
        return "ok" if self.trustworthy else "NOT TRUSTWORTHY"


class Probe:
    """Measures this process: loop lag every ``interval_s``, its CPU share every ``cpu_every_s``
    (and the machine's, in the parent), into ``checks`` under ``process``."""

    def __init__(
        self,
        checks: SelfCheck,
        process: int,
        started: float,
        *,
        interval_s: float = 0.05,
        cpu_every_s: float = 1.0,
        machine: bool = False,
    ) -> None:
        self.checks, self.process, self.started = checks, process, started
        self.interval_s, self.cpu_every_s, self.machine = interval_s, cpu_every_s, machine

    async def run(self) -> None:
        me = psutil.Process()
        me.cpu_percent(None)  # the first call only starts the count
        if self.machine:
            psutil.cpu_percent(None)
        next_cpu = time.monotonic() + self.cpu_every_s
        while True:
            due = time.monotonic() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self.checks.lags[self.process].append((due - self.started, max(0.0, now - due)))
            if now >= next_cpu:
                t = now - self.started
                self.checks.cpu[self.process].append((t, me.cpu_percent(None)))
                if self.machine:
                    self.checks.machine.append((t, psutil.cpu_percent(None)))
                next_cpu = now + self.cpu_every_s
