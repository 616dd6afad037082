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

# Accounts holding a library; concurrent "users" are sessions spread over them.
ACCOUNTS = 10


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
        self.client.phase = name
        self.phases.append((name, self.client.now()))

    def seconds(self, full: float) -> float:
        """A phase's length: ``full`` × scale (at least 3 s)."""
        return max(3.0, full * self.scale)

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
        self.rng = random.Random(seed)
        self.pool = [self.fresh() for _ in range(pool)]

    def fresh(self) -> str:
        return " ".join(self.rng.sample(self.words, self.rng.randint(3, 6)))

    def known(self) -> str:
        return self.rng.choice(self.pool)


def search(questions: Callable[[], str], *, limit: int = 10) -> RequestFn:
    async def send(c: LoadClient, user: int) -> Record:
        return await c.call(
            "search",
            "POST",
            "/api/smart-search",
            user % ACCOUNTS,
            json={"query": questions(), "limit": limit, "expand": False},
        )

    return send


def ask(questions: Callable[[], str]) -> RequestFn:
    async def send(c: LoadClient, user: int) -> Record:
        return await c.call("ask", "POST", "/api/search", user % ACCOUNTS, json={"question": questions()})

    return send


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
