"""Ramp — breaking points: 10, 50, 100, 150, 200, 500 and 1000 users searching (the report's final
table). Per step: served, shed (fast 503/429), timed out, refused or reset; p95 of the served;
p99 of the time to a shed answer."""

from __future__ import annotations

from tomehub.stress.deployment import normal_provider
from tomehub.stress.records import percentile, summarize
from tomehub.stress.scenarios.base import Context, Outcome, Questions, search

STEPS = [10, 50, 100, 150, 200, 500, 1000]


async def ramp(ctx: Context) -> Outcome:
    questions = Questions(seed=8)
    normal_provider(ctx.deployment)
    steps = STEPS if not ctx.quick else [10, 100]
    rows = []
    for users in steps:
        name = f"{users} users"
        ctx.phase(name)
        await ctx.client.closed_loop(search(questions.fresh), users=users, until=ctx.for_seconds(25))
        step = [r for r in ctx.client.records if r.phase == name]
        s = summarize(step)
        shed_latency = [r.latency for r in step if r.shed]
        refused = sum(1 for r in step if r.error in ("refused", "reset"))
        rows.append(
            {
                "users": users,
                "requests": s.requests,
                "served": s.ok,
                "shed": s.shed,
                "timeouts": s.timeouts,
                "refused/reset": refused,
                "p95 served (ms)": round(s.p95_ms),
                "shed p99 (ms)": round(percentile(shed_latency, 99) * 1000, 1) if shed_latency else None,
                "within SLA or shed": f"{(s.ok + s.shed) / s.requests:.1%}" if s.requests else "-",
            }
        )
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        figures={"steps": rows},
        mechanisms={"no connection refused": all(r["refused/reset"] == 0 for r in rows)},
    )
