"""2 — LLM degradation: 50 searchers while the embedding provider goes from 1-2 s to 5 s latency,
then fails half its calls, then recovers. Figures: availability and latency per phase, the tier mix,
the fast-fail latency while the search breaker is open, the time until tier 1 is back."""

from __future__ import annotations

import asyncio
import math

from tomehub.stress.profiles import EMBEDDING_LATENCY
from tomehub.stress.records import Record, percentile
from tomehub.stress.scenarios.base import Context, Outcome, Questions, search

PHASES = [
    ("normal", 60, {**EMBEDDING_LATENCY, "error_rate": 0.0}),
    ("slow (5 s)", 60, {"latency_p50_ms": 5000, "latency_p95_ms": 6000, "error_rate": 0.0}),
    ("50 % errors", 120, {**EMBEDDING_LATENCY, "error_rate": 0.5}),
    ("recovered", 60, {**EMBEDDING_LATENCY, "error_rate": 0.0}),
]

# --quick runs each phase for seconds: too few calls for a 50 % error rate to open the breaker
# reliably (its window still holds the healthy phase), so the errors phase fails every call there.
QUICK_PHASES = [
    (n, s, f) if n != "50 % errors" else ("errors (100 % in --quick)", s, {**f, "error_rate": 1.0})
    for n, s, f in PHASES
]


def tier1_back_s(records: list[Record], recovered_at: float) -> float:
    """Seconds from the provider's recovery to the first of ten tier-1 answers in a row."""
    after = sorted((r for r in records if r.start >= recovered_at and r.ok), key=lambda r: r.end)
    for i, r in enumerate(after):
        window = after[i : i + 10]
        if len(window) == 10 and all(x.tier == 1 for x in window):
            return r.end - recovered_at
    return math.nan


async def llm_degradation(ctx: Context) -> Outcome:
    questions = Questions(seed=3)
    done = False

    async def drive() -> None:
        nonlocal done
        for name, seconds, faults in QUICK_PHASES if ctx.quick else PHASES:
            ctx.deployment.set_faults(embeddings=faults)
            ctx.phase(name)
            await asyncio.sleep(ctx.seconds(seconds))
        done = True

    await asyncio.gather(drive(), ctx.client.closed_loop(search(questions.fresh), users=ctx.users, until=lambda: done))
    recovered_at = dict(ctx.phases)["recovered"]
    records = ctx.client.records
    refused = [r.latency for r in records if r.ok and r.degraded == "breaker_open"]
    fast_fail = percentile(refused, 99) * 1000
    back = tier1_back_s(records, recovered_at)
    return Outcome(
        records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "fast-fail p99 while open (ms)": round(fast_fail, 1),
            "tier 1 back after recovery (s)": round(back, 1),
        },
        recover_s=back,
        mechanisms={
            "breaker opened and answered fast": bool(refused),
            "tier 2 served": any(r.tier == 2 for r in records),
        },
    )
