"""Scenario 2 — LLM degradation: 50 concurrent searchers while the embedding provider goes from its
normal 1-2 s to 5 s latency, then fails half its calls for a while, then recovers.

Figures (per phase): availability, latency p50/p95/p99, tier mix; while the search breaker is open,
the fast-fail p99; after recovery, the time until searches are served by tier 1 again.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from tomehub.stress.deployment import Deployment, vocabulary
from tomehub.stress.load import LoadClient, query_maker, sample_json
from tomehub.stress.records import Record, percentile, summarize

NORMAL = {"latency_p50_ms": 1000, "latency_p95_ms": 2000, "error_rate": 0.0}
SLOW = {"latency_p50_ms": 5000, "latency_p95_ms": 6000, "error_rate": 0.0}
FAILING = {"latency_p50_ms": 1000, "latency_p95_ms": 2000, "error_rate": 0.5}


@dataclass
class Phase:
    name: str
    seconds: float
    faults: dict[str, Any]


def phases(scale: float) -> list[Phase]:
    """The report's timeline, ``scale`` × the full length (scale 1: 5 minutes)."""
    return [
        Phase("normal", 60 * scale, NORMAL),
        Phase("slow (5 s)", 60 * scale, SLOW),
        Phase("50 % errors", 120 * scale, FAILING),
        Phase("recovered", 60 * scale, NORMAL),
    ]


@dataclass
class Result:
    records: list[Record]
    phases: list[Phase]
    phase_starts: dict[str, float]
    breaker_samples: list[tuple[float, str]] = field(default_factory=list)

    def open_intervals(self) -> list[tuple[float, float]]:
        intervals, start = [], None
        for t, state in self.breaker_samples:
            if state == "open" and start is None:
                start = t
            elif state != "open" and start is not None:
                intervals.append((start, t))
                start = None
        if start is not None and self.breaker_samples:
            intervals.append((start, self.breaker_samples[-1][0]))
        return intervals

    def fast_fail_p99_ms(self) -> float:
        """p99 latency of the searches the open breaker answered without calling the provider."""
        refused = [r.latency for r in self.records if r.ok and r.degraded == "breaker_open"]
        return percentile(refused, 99) * 1000

    def tier1_back_s(self) -> float:
        """Seconds from the provider's recovery to the first of a run of tier-1 answers."""
        recovered = self.phase_starts["recovered"]
        after = sorted((r for r in self.records if r.start >= recovered and r.ok), key=lambda r: r.end)
        for i, r in enumerate(after):
            window = after[i : i + 10]
            if len(window) == 10 and all(x.tier == 1 for x in window):
                return r.end - recovered
        return math.nan


async def run(deployment: Deployment, *, users: int, scale: float, sla_s: float = 6.0) -> Result:
    make_query = query_maker(vocabulary(), seed=2)
    client = LoadClient(deployment.base_url, deployment.tokens, sla_s=sla_s)
    plan = phases(scale)
    starts: dict[str, float] = {}
    samples: list[tuple[float, str]] = []
    done = False

    async def sample_breaker() -> None:
        while not done:
            body = await sample_json(deployment.base_url, "/api/health/circuit-breakers")
            if body:
                state = next(b["state"] for b in body["breakers"] if b["operation"] == "search-embedding")
                samples.append((client.now(), state))
            await asyncio.sleep(0.25)

    async def search(c: LoadClient, user: int) -> Record:
        return await c.search(user, make_query())

    async def drive_phases() -> None:
        nonlocal done
        for phase in plan:
            deployment.set_faults(embeddings=phase.faults)
            client.phase = phase.name
            starts[phase.name] = client.now()
            await asyncio.sleep(phase.seconds)
        done = True

    sampler = asyncio.create_task(sample_breaker())
    await asyncio.gather(drive_phases(), client.closed_loop(search, users=users, until=lambda: done))
    await sampler
    await client.close()
    return Result(client.records, plan, starts, samples)


def report(result: Result) -> str:
    lines = [
        "| phase | requests | availability | p50 ms | p95 ms | p99 ms | tier 1 / 2 / 3 | timeouts | errors |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for phase in result.phases:
        s = summarize(r for r in result.records if r.phase == phase.name)
        tiers = " / ".join(str(s.tiers.get(t, 0)) for t in (1, 2, 3))
        lines.append(
            f"| {phase.name} | {s.requests} | {s.availability:.4%} | {s.p50_ms:.0f} | {s.p95_ms:.0f} | "
            f"{s.p99_ms:.0f} | {tiers} | {s.timeouts} | {s.errors} |"
        )
    total = summarize(result.records)
    lines += [
        f"| **all** | {total.requests} | **{total.availability:.4%}** | {total.p50_ms:.0f} | {total.p95_ms:.0f} | "
        f"{total.p99_ms:.0f} | "
        + " / ".join(str(total.tiers.get(t, 0)) for t in (1, 2, 3))
        + f" | {total.timeouts} | {total.errors} |",
        "",
        f"- Search breaker open for {sum(b - a for a, b in result.open_intervals()):.0f} s in "
        f"{len(result.open_intervals())} interval(s); fast-fail p99 while open: {result.fast_fail_p99_ms():.1f} ms.",
        f"- Tier 1 back {result.tier1_back_s():.1f} s after the provider recovered.",
    ]
    return "\n".join(lines)
