"""Retry storm — the reference report's failure mode: clients that ignore Retry-After and ask again
at once when a request fails (shed, timed out, errored), so every refusal comes straight back.

Three phases: a calm load (a tenth of the users, honouring Retry-After, healthy provider); the storm
(every user, ignoring Retry-After, the provider saturated at 4 s / 8 s as in scenario 5); then the
calm load again on a healthy provider. Figures: how fast the server sheds during the storm (issue
13: shed p99 <= 50 ms), nothing refused or reset, goodput before and after, and the time until
requests succeed again once the storm is over.

The server holds a request sent before its client's last Retry-After had passed until it has
(resilience/tarpit.py): the client is told to wait by being made to. Such requests are marked
``early`` by the client; the shed target is judged on the others (a first request, or one after a
success), and the early ones' time is reported beside it, as is every refusal's p99 together."""

from __future__ import annotations

import math

from tomehub.stress.deployment import normal_provider
from tomehub.stress.monitor import SHED_TARGET_S
from tomehub.stress.records import Record, percentile, summarize
from tomehub.stress.scenarios.base import Context, Outcome, Questions, search, target, time_to_recover
from tomehub.stress.scenarios.ramp import count_label, loop_label, server_view, shed_counts, slow_sheds
from tomehub.stress.scenarios.timeout_cascade import SATURATED

SHED_P99_MS = SHED_TARGET_S * 1000
# Goodput after the storm, as a share of the same load's goodput before it.
RECOVERED_SHARE = 0.9


def _goodput(records: list[Record], seconds: float, sla_s: float) -> float:
    served = sum(1 for r in records if r.ok and r.latency <= sla_s)
    return served / seconds if seconds > 0 else math.nan


async def retry_storm(ctx: Context) -> Outcome:
    questions = Questions(seed=9)
    calm_users = max(10, ctx.users // 10)
    sla = ctx.client.sla_s
    spans: dict[str, tuple[float, float]] = {}

    async def phase(name: str, users: int, seconds: float, *, storm: bool) -> None:
        ctx.phase(name)
        began = ctx.client.now()
        await ctx.client.closed_loop(
            search(questions.fresh), users=users, until=ctx.for_seconds(seconds), retry="ignore" if storm else "honour"
        )
        spans[name] = (began, ctx.client.now())

    normal_provider(ctx.deployment)
    await phase("calm", calm_users, 20, storm=False)
    ctx.deployment.set_faults(embeddings=SATURATED, chat=SATURATED)
    await phase("storm", ctx.users, 45, storm=True)
    normal_provider(ctx.deployment)
    await phase("after the storm", calm_users, 30, storm=False)

    records = ctx.client.records
    by = {name: [r for r in records if r.phase == name] for name in spans}
    seconds = {name: end - begin for name, (begin, end) in spans.items()}
    storm = summarize(by["storm"])
    shed_ms = [r.latency * 1000 for r in by["storm"] if r.shed and not r.early]
    early = [r for r in by["storm"] if r.early]
    early_ms = [r.latency * 1000 for r in early]
    every_shed_ms = [r.latency * 1000 for r in by["storm"] if r.shed]
    refused = sum(1 for r in records if r.error in ("refused", "reset"))
    before = _goodput(by["calm"], seconds["calm"], sla)
    after = _goodput(by["after the storm"], seconds["after the storm"], sla)
    recover = time_to_recover(records, spans["after the storm"][0])
    storm_generator = ctx.generator(*spans["storm"])
    shed_p99 = percentile(shed_ms, 99)
    server = server_view(ctx.monitor, *spans["storm"])
    return Outcome(
        records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "calm users / storming users": f"{calm_users} / {ctx.users}",
            "storm: requests per second offered": round(storm.requests / seconds["storm"], 1),
            "storm: shed (503/429)": storm.shed,
            "storm: shed p50 / p99 (ms), requests sent in time": (
                f"{percentile(shed_ms, 50):.1f} / {shed_p99:.1f}" if shed_ms else "–"
            ),
            "storm: requests sent before their Retry-After (served / shed), answered p50 / p99 (ms)": (
                f"{len(early)} ({sum(r.ok for r in early)} / {sum(r.shed for r in early)}), "
                f"{percentile(early_ms, 50):.0f} / {percentile(early_ms, 99):.0f}"
                if early
                else "0"
            ),
            "storm: every shed's p99 (ms)": f"{percentile(every_shed_ms, 99):.1f}" if every_shed_ms else "–",
            "server during the storm: shed at edge / admission / expired, held": shed_counts(server),
            f"server during the storm: sheds over {SHED_P99_MS:.0f} ms at edge / admission (mean ms)": slow_sheds(
                server
            ),
            "server during the storm: loop lag max (ms), ticks late > 50 ms; full GCs (mean ms)": (
                f"{loop_label(server)}; {count_label(server.get('gc_full_n'))} "
                f"({count_label(server.get('gc_full_ms'))})"
            ),
            "goodput before / during / after the storm (searches within the SLA per s)": (
                f"{before:.1f} / {_goodput(by['storm'], seconds['storm'], sla):.1f} / {after:.1f}"
            ),
            "targets": [
                target(
                    f"storm: shed p99 <= {SHED_P99_MS:.0f} ms (requests sent in time)",
                    "nothing shed" if not shed_ms else f"{shed_p99:.1f} ms over {len(shed_ms)} sheds",
                    not shed_ms or shed_p99 <= SHED_P99_MS,
                    storm_generator,
                ),
                target("0 refused/reset", str(refused), refused == 0, storm_generator),
                target(
                    f"goodput after the storm >= {RECOVERED_SHARE:.0%} of before",
                    f"{after:.1f}/s vs {before:.1f}/s",
                    before > 0 and after >= RECOVERED_SHARE * before,
                    ctx.generator(*spans["after the storm"]),
                ),
            ],
        },
        recover_s=recover,
        mechanisms={
            "no connection refused or reset": refused == 0,
            "served again after the storm": any(r.ok for r in by["after the storm"]),
        },
    )
