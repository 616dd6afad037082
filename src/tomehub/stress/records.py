"""Per-request records and the figures computed from them."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Record:
    """One request as the client saw it (times in seconds since the run started)."""

    start: float
    end: float
    status: int  # HTTP status; 0 = no response (timeout, refused, reset)
    kind: str  # "search", "ask", "content", ...
    tier: int | None = None
    bytes: int = 0
    error: str | None = None  # "timeout", "refused", "reset", ...
    phase: str = ""
    degraded: str | None = None  # the server's X-TomeHub-Degraded: why the query was not embedded
    retry_after: float | None = None  # seconds the server asked the client to wait (503/429 Retry-After)
    process: int = 0  # the load process that sent it (0: the parent)
    # Sent before the Retry-After of its user's previous refusal had passed (a storming client).
    early: bool = False
    user: int = -1  # the simulated user who sent it (-1: none, e.g. a scenario's own request)

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def shed(self) -> bool:
        return self.status in (429, 503)


def percentile(values: Sequence[float], p: float) -> float:
    """Returns the p-th percentile (nearest rank); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Summary:
    requests: int
    ok: int
    shed: int
    timeouts: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    shed_p99_ms: float
    tiers: dict[int, int] = field(default_factory=dict)
    # What the failures were: an HTTP status ("504"), or what happened instead ("timeout", "reset").
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def availability(self) -> float:
        """Share of requests answered successfully (any tier)."""
        return self.ok / self.requests if self.requests else math.nan

    @property
    def success_rate(self) -> float:
        return self.availability

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else math.nan


def summarize(records: Iterable[Record]) -> Summary:
    recs = list(records)
    ok = [r for r in recs if r.ok]
    shed = [r for r in recs if r.shed]
    timeouts = [r for r in recs if r.error == "timeout"]
    errors = [r for r in recs if not r.ok and not r.shed and r.error != "timeout"]
    return Summary(
        requests=len(recs),
        ok=len(ok),
        shed=len(shed),
        timeouts=len(timeouts),
        errors=len(errors),
        p50_ms=percentile([r.latency for r in ok], 50) * 1000,
        p95_ms=percentile([r.latency for r in ok], 95) * 1000,
        p99_ms=percentile([r.latency for r in ok], 99) * 1000,
        shed_p99_ms=percentile([r.latency for r in shed], 99) * 1000,
        tiers=dict(Counter(r.tier for r in ok if r.tier is not None)),
        failures=dict(Counter(str(r.status) if r.status else (r.error or "unknown") for r in recs if not r.ok)),
    )


CSV_FIELDS = (
    "start", "end", "status", "kind", "tier", "bytes", "error", "phase", "degraded", "retry_after",
    "process", "early", "user",
)  # fmt: skip


def write_csv(records: Iterable[Record], path: Path) -> None:
    """Writes every record, one row each (times in seconds since the run started)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for r in records:
            writer.writerow([f"{r.start:.4f}", f"{r.end:.4f}", r.status, r.kind, r.tier, r.bytes, r.error, r.phase,
                             r.degraded, r.retry_after, r.process, int(r.early), r.user])  # fmt: skip


def by_phase(records: Iterable[Record]) -> dict[str, list[Record]]:
    phases: dict[str, list[Record]] = {}
    for r in records:
        phases.setdefault(r.phase, []).append(r)
    return phases
