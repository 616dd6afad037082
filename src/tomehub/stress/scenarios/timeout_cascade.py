"""5 — timeout cascade: the provider is saturated (4 s median, 8 s p95) and 200 users keep asking
with no pause; they give up at the 6 s SLA. The figure: work the server started after the client's
deadline had passed (from its own metrics) — zero when deadlines are enforced — and issue 13's
target: client timeouts <= 1 % with 0 late starts."""

from __future__ import annotations

import asyncio

from tomehub.stress.deployment import control_client
from tomehub.stress.monitor import parse_metrics, total
from tomehub.stress.records import summarize
from tomehub.stress.scenarios.base import Context, Outcome, Questions, ask, target

SATURATED = {"latency_p50_ms": 4000, "latency_p95_ms": 8000, "error_rate": 0.0}
MAX_TIMEOUT_RATE = 0.01


async def timeout_cascade(ctx: Context) -> Outcome:
    questions = Questions(seed=6)
    ctx.deployment.set_faults(embeddings=SATURATED, chat=SATURATED)
    ctx.phase("saturated")
    began = ctx.client.now()
    await ctx.client.closed_loop(ask(questions.fresh), users=ctx.users, until=ctx.for_seconds(60), think_s=(0.0, 0.1))
    generator = ctx.generator(began)
    s = summarize(r for r in ctx.client.records if r.phase == "saturated")
    await asyncio.sleep(5)  # let the server finish what it started
    async with control_client(ctx.deployment.base_url, 10) as http:
        metrics = parse_metrics((await http.get("/metrics")).text)
    started_late = total(metrics, "tomehub_late_starts_total", 'action="started"')
    refused_late = total(metrics, "tomehub_late_starts_total", 'action="refused"')
    expired = total(metrics, "tomehub_admission_total", 'outcome="expired"')
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "work started after the deadline (server)": int(started_late),
            "work refused at a stage because its deadline had passed": int(refused_late),
            "requests dropped in the admission queue": int(expired),
            "targets": [
                target(
                    f"client timeouts <= {MAX_TIMEOUT_RATE:.0%} with 0 late starts",
                    f"{s.timeout_rate:.1%} timeouts ({s.timeouts} of {s.requests}), {int(started_late)} late starts",
                    s.requests > 0 and s.timeout_rate <= MAX_TIMEOUT_RATE and started_late == 0,
                    generator,
                )
            ],
        },
        mechanisms={"no work started after its deadline": started_late == 0},
    )
