"""Ramp — breaking points: 10, 50, 100, 150, 200, 500 and 1000 users searching (the report's final
table). Per step: served, shed (fast 503/429), timed out, refused or reset; p95 of the served;
p99 of the time to a shed answer; goodput (searches served within the SLA per second); the step's
verdict against issue 13's targets and the load generator's self-check over the step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tomehub.stress.deployment import normal_provider
from tomehub.stress.monitor import SHED_LAYERS, SHED_TARGET_S, TIME_SPENT, Monitor
from tomehub.stress.records import Record, percentile
from tomehub.stress.scenarios.base import Context, Outcome, Questions, generator_label, search, target
from tomehub.stress.selfcheck import Verdict

STEPS = [10, 50, 100, 150, 200, 500, 1000]
# Issue 13's targets: every request served within the SLA or shed fast, nothing refused or reset...
SHED_P99_MS = SHED_TARGET_S * 1000
# ...the served p95 at 200 users no worse than before edge shedding (docs/stress-results.md)...
P95_USERS, P95_MS = 200, 4800.0
# ...and overload does not collapse throughput: goodput at the last step >= this share of the peak.
GOODPUT_SHARE = 0.9


@dataclass
class Step:
    users: int
    seconds: float
    requests: int
    served: int  # answered 2xx within the SLA
    late: int  # answered 2xx after the SLA (the client's clock)
    shed: int
    timeouts: int
    refused: int
    p95_ms: float
    shed_p99_ms: float
    generator: Verdict
    # The server's side (its /metrics over the step): requests turned away at the edge (a late loop),
    # by admission (queue full or predicted late) and dropped from the queue at their deadline,
    # requests it first saw or began answering after their deadline, and the latest any worker's loop ran.
    server: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        users: int,
        records: list[Record],
        seconds: float,
        sla_s: float,
        generator: Verdict,
        server: dict[str, float] | None = None,
    ) -> Step:
        ok = [r for r in records if r.ok]
        shed = [r.latency for r in records if r.shed]
        return cls(
            users,
            seconds,
            len(records),
            sum(1 for r in ok if r.latency <= sla_s),
            sum(1 for r in ok if r.latency > sla_s),
            len(shed),
            sum(1 for r in records if r.error == "timeout"),
            sum(1 for r in records if r.error in ("refused", "reset")),
            percentile([r.latency for r in ok], 95) * 1000,
            percentile(shed, 99) * 1000,
            generator,
            server or {},
        )

    @property
    def within(self) -> float:
        """Share of requests served within the SLA or shed."""
        return (self.served + self.shed) / self.requests if self.requests else math.nan

    @property
    def goodput(self) -> float:
        return self.served / self.seconds if self.seconds > 0 else math.nan

    def misses(self) -> list[str]:
        """Why the step misses the targets (empty: met)."""
        out = []
        if not self.within >= 1.0:
            out.append(f"{1 - self.within:.1%} neither served in time nor shed")
        if self.shed and self.shed_p99_ms > SHED_P99_MS:
            out.append(f"shed p99 {self.shed_p99_ms:.0f} ms")
        if self.refused:
            out.append(f"{self.refused} refused/reset")
        return out

    def row(self) -> dict[str, Any]:
        # The first six columns are what tests/stress/test_quick_suite.py reads.
        misses = self.misses()
        return {
            "users": self.users,
            "requests": self.requests,
            "served": self.served + self.late,
            "shed": self.shed,
            "timeouts": self.timeouts,
            "refused/reset": self.refused,
            "p95 served (ms)": round(self.p95_ms) if not math.isnan(self.p95_ms) else None,
            "shed p99 (ms)": round(self.shed_p99_ms, 1) if self.shed else None,
            "within SLA or shed": f"{self.within:.1%}" if self.requests else "-",
            "goodput (/s)": round(self.goodput, 1),
            "target": "met" if not misses else "**missed**: " + ", ".join(misses),
            "load generator": generator_label(self.generator),
            "server: shed at edge / admission / expired, held": shed_counts(self.server),
            "server: arrived / answered after the deadline": "/".join(
                count_label(self.server.get(k)) for k in ("late_arrival", "late_answer")
            ),
            f"server: sheds over {SHED_P99_MS:.0f} ms at edge / admission (mean ms)": slow_sheds(self.server),
            "server loop lag max (ms), ticks late > 50 ms": loop_label(self.server),
            "server mean wait for a slot / after the provider / embedding call (ms)": "/".join(
                count_label(self.server.get(f"{k}_ms")) for k in ("queue_wait", "resume_wait", "embedding_call")
            ),
            "server full GCs (mean ms)": f"{count_label(self.server.get('gc_full_n'))} "
            f"({count_label(self.server.get('gc_full_ms'))})",
        }


def shed_counts(server: dict[str, float]) -> str:
    """Refusals by where they were decided (a late worker at the edge, admission at the edge or
    after auth, waiters dropped at their deadline), and requests held for coming back before their
    Retry-After (clients that honour it are never held)."""
    shed = "/".join(count_label(server.get(k)) for k in ("shed_edge", "shed", "expired"))
    return f"{shed}, {count_label(server.get('held'))}"


def loop_label(server: dict[str, float]) -> str:
    """The highest sampled loop lag and the share of every loop tick that ran over the shed target
    late (a refusal cannot leave a worker before its loop gets to the request)."""
    share = server.get("loop_late_share")
    return f"{count_label(server.get('loop_lag_ms'))}, " + ("–" if share is None else f"{share:.1%}")


def slow_sheds(server: dict[str, float]) -> str:
    """The refusals that took the server itself over the shed target, per layer (their mean ms)."""
    return " / ".join(
        f"{count_label(server.get(f'shed_slow_{w}'))} ({count_label(server.get(f'shed_{w}_ms'))})" for w in SHED_LAYERS
    )


def count_label(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.0f}"


def _delta(monitor: Monitor, key: str, start: float, end: float) -> float | None:
    """How much the cumulative sample ``key`` grew over [start, end] (the sample before the window is
    the base, the one just after its end counts); None when it was not sampled in the window."""
    before = monitor.between(key, 0.0, start) or [0.0]
    within = monitor.between(key, start, end + 1.0)
    return within[-1] - before[-1] if within else None


def server_view(monitor: Monitor, start: float, end: float) -> dict[str, float]:
    """What the server's /metrics say about [start, end]: admission decisions and deadline misses in
    it (counter deltas, holds included), its highest sampled loop lag and the share of loop ticks
    over the shed target late, the mean time spent where TIME_SPENT says, and how many refusals took
    the server itself longer than the shed target."""
    view: dict[str, float] = {}
    counters = {o: f"admission:{o}" for o in ("shed_edge", "shed", "expired", "held")}
    counters |= {f"late_{m}": f"late:{m}" for m in ("arrival", "answer")}
    for name, key in counters.items():
        if (grew := _delta(monitor, key, start, end)) is not None:
            view[name] = grew
    lags = monitor.between("server_loop_lag_ms", start, end)
    if lags:
        view["loop_lag_ms"] = max(lags)
    ticks, late = _delta(monitor, "loop_ticks", start, end), _delta(monitor, "loop_late", start, end)
    if ticks and late is not None:
        view["loop_late_share"] = late / ticks
    for name in TIME_SPENT:
        spent, count = (_delta(monitor, f"{name}:{part}", start, end) for part in ("sum", "count"))
        if spent is not None and count:
            view[f"{name}_ms"] = spent / count * 1000
            view[f"{name}_n"] = count
    for where in SHED_LAYERS:
        fast, count = _delta(monitor, f"shed_fast:{where}", start, end), view.get(f"shed_{where}_n")
        if fast is not None and count is not None:
            view[f"shed_slow_{where}"] = count - fast
    return view


def ramp_targets(steps: list[Step]) -> list[dict[str, str]]:
    """Issue 13's ramp targets, met or missed, over the measured steps."""
    if not steps:
        return []
    untrusted = [f"{s.users}" for s in steps if not s.generator.trustworthy]
    trust = "ok" if not untrusted else f"**NOT TRUSTWORTHY** at {', '.join(untrusted)} users"

    def at(s: Step) -> str:
        return f"{s.users} users"

    worst = min(steps, key=lambda s: s.within if not math.isnan(s.within) else 1.0)
    shedding = [s for s in steps if s.shed]
    slowest_shed = max(shedding, key=lambda s: s.shed_p99_ms, default=None)
    refused = sum(s.refused for s in steps)
    rows = [
        target(
            "every step: 100 % served within the SLA or shed",
            f"lowest {worst.within:.1%} at {at(worst)}",
            all(s.within >= 1.0 for s in steps),
            trust,
        ),
        target(
            f"every step: shed p99 <= {SHED_P99_MS:.0f} ms",
            "nothing shed"
            if slowest_shed is None
            else f"highest {slowest_shed.shed_p99_ms:.0f} ms at {at(slowest_shed)}",
            slowest_shed is None or slowest_shed.shed_p99_ms <= SHED_P99_MS,
            trust,
        ),
        target("0 refused/reset", str(refused), refused == 0, trust),
    ]
    at_p95 = next((s for s in steps if s.users == P95_USERS), None)
    rows.append(
        target(
            f"served p95 at {P95_USERS} users <= {P95_MS / 1000:.1f} s",
            "no such step" if at_p95 is None else f"{at_p95.p95_ms / 1000:.2f} s",
            None if at_p95 is None or math.isnan(at_p95.p95_ms) else at_p95.p95_ms <= P95_MS,
            None if at_p95 is None else at_p95.generator,
        )
    )
    peak = max(steps, key=lambda s: s.goodput)
    last = steps[-1]
    rows.append(
        target(
            f"goodput at {at(last)} >= {GOODPUT_SHARE:.0%} of the ramp's peak",
            f"{last.goodput:.1f}/s vs peak {peak.goodput:.1f}/s at {at(peak)} ({last.goodput / peak.goodput:.0%})"
            if peak.goodput > 0
            else "nothing served",
            peak.goodput > 0 and last.goodput >= GOODPUT_SHARE * peak.goodput,
            last.generator,
        )
    )
    return rows


async def ramp(ctx: Context) -> Outcome:
    questions = Questions(seed=8)
    normal_provider(ctx.deployment)
    steps = STEPS if not ctx.quick else [10, 100]
    measured: list[Step] = []
    for users in steps:
        name = f"{users} users"
        ctx.phase(name)
        began = ctx.client.now()
        await ctx.client.closed_loop(search(questions.fresh), users=users, until=ctx.for_seconds(25))
        ended = ctx.client.now()
        step = [r for r in ctx.client.records if r.phase == name]
        measured.append(
            Step.of(
                users,
                step,
                ended - began,
                ctx.client.sla_s,
                ctx.generator(began, ended),
                server_view(ctx.monitor, began, ended),
            )
        )
    rows = [s.row() for s in measured]
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        figures={"steps": rows, "targets": ramp_targets(measured)},
        mechanisms={"no connection refused": all(r["refused/reset"] == 0 for r in rows)},
    )
