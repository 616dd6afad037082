"""What every scenario shares: its context, its outcome, and the requests users send."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tomehub.stress.deployment import Deployment, vocabulary
from tomehub.stress.load import LoadClient, RequestFn
from tomehub.stress.monitor import Monitor, Series
from tomehub.stress.records import Record, summarize
from tomehub.stress.selfcheck import Verdict

# Accounts holding a library; concurrent "users" are sessions spread over them.


@dataclass
class Context:
    deployment: Deployment
    client: LoadClient
    monitor: Monitor
    scale: float
    users: int
    quick: bool
    phases: list[tuple[str, float]] = field(default_factory=list)

    def phase(self, name: str) -> None:
        self.client.set_phase(name)
        self.phases.append((name, self.client.now()))

    def seconds(self, full: float) -> float:
        """A phase's length: ``full`` × scale (at least 3 s)."""
        return max(3.0, full * self.scale)

    def generator(self, start: float, end: float | None = None) -> Verdict:
        """The load generator's self-check from ``start`` to ``end`` (default: now)."""
        return self.client.self_check(start, self.client.now() if end is None else end)

    def for_seconds(self, full: float) -> Callable[[], bool]:
        """A stop condition: true once a phase of ``full`` × scale seconds (from now) is over."""
        end = time.monotonic() + self.seconds(full)
        return lambda: time.monotonic() > end


@dataclass
class Outcome:
    records: list[Record]
    series: Series
    phases: list[tuple[str, float]]
    figures: dict[str, Any] = field(default_factory=dict)
    recover_s: float | None = None
    # Mechanisms a --quick run asserts engaged (name -> engaged?).
    mechanisms: dict[str, bool] = field(default_factory=dict)

    def failure_mode(self) -> str:
        s = summarize(self.records)
        if not s.requests:
            return "no requests"
        refused = sum(1 for r in self.records if r.error in ("refused", "reset"))
        if refused:
            return f"connections refused/reset ({refused})"
        if s.timeout_rate > 0.05:
            return f"timeouts ({s.timeout_rate:.0%}): slow degradation"
        if s.errors / s.requests > 0.01:
            return f"errors ({s.errors / s.requests:.0%})"
        if s.shed:
            return f"load shed, fast 503/429 ({s.shed / s.requests:.0%})"
        if s.timeouts or s.errors:
            return "isolated failures"
        return "none"


class Questions:
    """Queries drawn from the demo library's words: a fixed pool (warm cache) or fresh ones."""

    def __init__(self, seed: int = 0, pool: int = 40) -> None:
        self.words = vocabulary()
        self.seed = seed
        self.rng = random.Random(seed)
        self.pool = [self.fresh() for _ in range(pool)]

    def reseed(self, stream: str) -> None:
        """A stream of its own for one load process and job (copies sent to several processes
        would otherwise ask the same "fresh" questions, and hit the cache)."""
        self.rng.seed(f"{self.seed}:{stream}")

    def fresh(self) -> str:
        return " ".join(self.rng.sample(self.words, self.rng.randint(3, 6)))

    def known(self) -> str:
        return self.rng.choice(self.pool)


def _reseed(questions: Callable[[], str], stream: str) -> None:
    owner = getattr(questions, "__self__", None)
    if isinstance(owner, Questions):
        owner.reseed(stream)


@dataclass
class _Search:
    """A search request; a plain object (not a closure), so it pickles to a load process."""

    questions: Callable[[], str]
    limit: int = 10

    async def __call__(self, c: LoadClient, user: int) -> Record:
        body = {"query": self.questions(), "limit": self.limit, "expand": False}
        return await c.call("search", "POST", "/api/smart-search", user, json=body)

    def reseed(self, stream: str) -> None:
        _reseed(self.questions, stream)


@dataclass
class _Ask:
    questions: Callable[[], str]

    async def __call__(self, c: LoadClient, user: int) -> Record:
        return await c.call("ask", "POST", "/api/search", user, json={"question": self.questions()})

    def reseed(self, stream: str) -> None:
        _reseed(self.questions, stream)


def search(questions: Callable[[], str], *, limit: int = 10) -> RequestFn:
    return _Search(questions, limit)


def ask(questions: Callable[[], str]) -> RequestFn:
    return _Ask(questions)


def time_to_recover(records: list[Record], since: float, *, window_s: float = 5.0, good: float = 0.95) -> float:
    """Seconds from ``since`` to the first window whose success share reaches ``good`` and stays."""
    after = [r for r in records if r.start >= since]
    if not after:
        return math.nan
    end = max(r.start for r in after)
    t = since
    while t <= end:
        window = [r for r in after if t <= r.start < t + window_s]
        if window and sum(r.ok for r in window) / len(window) >= good:
            rest = [r for r in after if r.start >= t]
            if sum(r.ok for r in rest) / len(rest) >= good:
                return t - since
        t += 1.0
    return math.nan


def target(goal: str, measured: str, met: bool | None, generator: Verdict | str | None = None) -> dict[str, str]:
    """One row of a scenario's targets table (figures["targets"]): met, missed or not measured, and
    whether the load generator could be trusted while it was measured."""
    if isinstance(generator, Verdict):
        generator = generator_label(generator)
    return {
        "target": goal,
        "measured": measured,
        "verdict": "not measured" if met is None else "met" if met else "**missed**",
        "load generator": generator or "–",
    }


def generator_label(verdict: Verdict) -> str:
    """ "ok", or "NOT TRUSTWORTHY (why)" for a table cell."""
    if verdict.trustworthy:
        return "ok"
    return "**NOT TRUSTWORTHY** (" + "; ".join(verdict.reasons) + ")"
