"""The stress report: ``report.md`` with the report's own columns (success rate, timeout rate, p95,
failure mode, time to recover) for baseline and hardened side by side, scenario figures, and PNG
plots over time (latency percentiles, outcome rates, RSS per worker, breaker states and tiers, pool)."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tomehub.stress.records import Record, percentile, summarize, write_csv

if TYPE_CHECKING:
    from tomehub.stress.runner import Run

WINDOW_S = 5.0


def _fmt(value: float, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.0f}{unit}" if abs(value) >= 10 else f"{value:.1f}{unit}"


def summary_row(run: Run) -> dict[str, str]:
    s = summarize(run.outcome.records)
    recover = run.outcome.recover_s
    return {
        "requests": str(s.requests),
        "success rate": f"{s.success_rate:.1%}" if s.requests else "–",
        "timeout rate": f"{s.timeout_rate:.1%}" if s.requests else "–",
        "p95 (ms)": _fmt(s.p95_ms),
        "failure mode": run.outcome.failure_mode(),
        "time to recover": "–" if recover is None else _fmt(recover, " s"),
        "load generator": "ok" if not run.untrusted() else "**NOT TRUSTWORTHY**",
    }


def write_report(
    runs: list[Run], directory: Path, *, command: str, machine: str, began: dt.datetime, elapsed_s: float
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    by_scenario: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_scenario[run.scenario.id].append(run)
    lines = [
        "# TomeHub stress report",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine}",
        f"- Started {began:%Y-%m-%d %H:%M} UTC; took {elapsed_s / 60:.1f} minutes",
        "- Each run: a fresh deployment (embedded PostgreSQL, TomeHub workers, the fake provider with the "
        "report's latencies: embeddings p50 1.2 s / p95 2.5 s, chat p50 1 s / p95 2 s unless the scenario says "
        "otherwise), 10 accounts seeded with the demo library; clients give up at the 6 s SLA, send it as "
        "their deadline (X-TomeHub-Deadline-Ms / -At) and wait out a 503/429's Retry-After (except in the "
        "retry storm).",
        "- Load generator self-check: every load process measures its own event-loop lag and CPU share; a phase "
        "is NOT TRUSTWORTHY when a process's lag p99 exceeds the bound or its CPU is saturated — its figures are "
        "then partly the generator's own.",
        "",
        "## Summary",
        "",
        "| scenario | profile | requests | success rate | timeout rate | p95 (ms) | failure mode | time to recover "
        "| load generator |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for sid, group in by_scenario.items():
        for run in group:
            row = summary_row(run)
            lines.append(
                f"| {sid} {run.scenario.title} | {run.profile} | {row['requests']} | {row['success rate']} | "
                f"{row['timeout rate']} | {row['p95 (ms)']} | {row['failure mode']} | {row['time to recover']} | "
                f"{row['load generator']} |"
            )
    for sid, group in by_scenario.items():
        scenario = group[0].scenario
        lines += ["", f"## {sid} — {scenario.title}", "", f"Load: {scenario.load}.", ""]
        profiles = {run.profile: run for run in group}
        if "baseline" in profiles and "hardened" in profiles:
            b, h = summarize(profiles["baseline"].outcome.records), summarize(profiles["hardened"].outcome.records)
            ratio = h.p95_ms / b.p95_ms if b.p95_ms and not math.isnan(b.p95_ms) and b.p95_ms > 0 else math.nan
            lines.append(
                f"Hardened vs baseline: success {h.success_rate:.1%} vs {b.success_rate:.1%}; p95 ratio "
                f"{_fmt(ratio)}× ({_fmt(h.p95_ms)} ms vs {_fmt(b.p95_ms)} ms)."
            )
            lines.append("")
        for run in group:
            lines += _scenario_section(run, directory)
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _scenario_section(run: Run, directory: Path) -> list[str]:
    lines = [f"### {run.profile} ({run.seconds:.0f} s)", ""]
    untrusted = run.untrusted()
    if untrusted:
        where = ", ".join(c.phase for c in untrusted)
        lines += [
            f"**Load generator NOT TRUSTWORTHY in: {where}.** Its own lag or CPU was past the bound there, so "
            "those figures are partly the generator's, not the server's"
            + (
                " — the two cores cannot hold both sides at this load; run the generator from another machine "
                "(`--target`, see docs/stress-results.md)."
                if run.local
                else "; give it more processes or a bigger machine."
            ),
            "",
        ]
    phases = [name for name, _ in run.outcome.phases]
    if phases:
        lines += [
            "| phase | requests | success | shed | timeouts | errors | p50 ms | p95 ms | p99 ms | tier 1/2/3 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name in phases:
            s = summarize(r for r in run.outcome.records if r.phase == name)
            if not s.requests:
                continue
            tiers = "/".join(str(s.tiers.get(t, 0)) for t in (1, 2, 3))
            lines.append(
                f"| {name} | {s.requests} | {s.success_rate:.2%} | {s.shed} | {s.timeouts} | {s.errors} | "
                f"{_fmt(s.p50_ms)} | {_fmt(s.p95_ms)} | {_fmt(s.p99_ms)} | {tiers} |"
            )
        lines.append("")
    failures = summarize(run.outcome.records).failures
    if failures:
        kinds = ", ".join(f"{kind} × {n}" for kind, n in sorted(failures.items(), key=lambda kv: -kv[1]))
        lines.append(f"- failures by kind (status, or what happened): {kinds}")
    for key, value in run.outcome.figures.items():
        if key == "steps":
            lines += _steps_table(value)
        elif key == "targets":
            lines += ["", "Targets:", *_steps_table(value, align="---")]
        else:
            lines.append(f"- {key}: {value}")
    for name, engaged in run.outcome.mechanisms.items():
        lines.append(f"- mechanism — {name}: {'yes' if engaged else 'NO'}")
    lines += _self_check(run)
    records = directory / f"{run.scenario.id}-{run.profile}.csv"
    write_csv(run.outcome.records, records)
    lines.append(f"- per-request records: [{records.name}]({records.name})")
    plot = _plot(run, directory)
    if plot is not None:
        lines += ["", f"![{run.scenario.id} {run.profile}]({plot.name})"]
    lines.append("")
    return lines


def _self_check(run: Run) -> list[str]:
    """The load generator's own figures per phase (worst process) and its verdict."""
    if not run.checks:
        return []
    b = run.bounds
    lines = [
        "",
        f"Load generator self-check ({run.processes} load process{'es' if run.processes > 1 else ''}"
        f"{' + the parent' if run.processes > 1 else ''}; bounds: loop lag p99 <= {b.max_lag_ms:.0f} ms, "
        f"CPU < {b.max_cpu_percent:.0f} % of a core; judged: the processes that sent requests in the phase"
        + (f"; the local server ran at nice {run.server_nice}, below the generator" if run.server_nice else "")
        + "):",
        "",
        "| phase | lag p50 / p99 / max (ms), worst process | CPU mean / max (% of a core), busiest process "
        "| machine CPU | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for check in run.checks:
        v = check.verdict
        worst = v.worst()
        busiest = max(v.judged(), key=lambda p: p.cpu_mean if not math.isnan(p.cpu_mean) else -1, default=None)
        lag = (
            "–" if worst is None else f"{_fmt(worst.lag_p50_ms)} / {_fmt(worst.lag_p99_ms)} / {_fmt(worst.lag_max_ms)}"
        )
        cpu = "–" if busiest is None else f"{_fmt(busiest.cpu_mean)} / {_fmt(busiest.cpu_max)}"
        verdict = "ok" if v.trustworthy else "**NOT TRUSTWORTHY**: " + "; ".join(v.reasons)
        lines.append(f"| {check.phase} | {lag} | {cpu} | {_fmt(v.machine_cpu, ' %')} | {verdict} |")
    return [*lines, ""]


def _steps_table(rows: list[dict[str, Any]], align: str = "---:") -> list[str]:
    if not rows:
        return []
    headers = list(rows[0])
    out = ["", "| " + " | ".join(headers) + " |", "|" + "|".join(align for _ in headers) + "|"]
    out += ["| " + " | ".join("–" if r[h] is None else str(r[h]) for h in headers) + " |" for r in rows]
    return [*out, ""]


def _windows(records: list[Record], end: float) -> list[tuple[float, list[Record]]]:
    out = []
    t = 0.0
    while t < end:
        out.append((t + WINDOW_S / 2, [r for r in records if t <= r.start < t + WINDOW_S]))
        t += WINDOW_S
    return out


def _plot(run: Run, directory: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots need the "stress" extra; the tables do not
        return None
    records = run.outcome.records
    if not records:
        return None
    end = max(r.end for r in records)
    windows = _windows(records, end)
    fig, axes = plt.subplots(5, 1, figsize=(10, 16), sharex=True)
    ts = [t for t, _ in windows]
    for p in (50, 95, 99):
        axes[0].plot(ts, [percentile([r.latency for r in w if r.ok], p) for _, w in windows], label=f"p{p}")
    axes[0].set_ylabel("latency of successes (s)")
    axes[0].legend(loc="upper right")
    outcomes: list[tuple[str, Callable[[Record], bool]]] = [
        ("success", lambda r: r.ok),
        ("shed", lambda r: r.shed),
        ("timeout", lambda r: r.error == "timeout"),
        ("error", lambda r: not r.ok and not r.shed and r.error != "timeout"),
    ]
    for label, pick in outcomes:
        axes[1].plot(ts, [sum(1 for r in w if pick(r)) / WINDOW_S for _, w in windows], label=label)
    axes[1].set_ylabel("requests per second")
    axes[1].legend(loc="upper right")
    series = run.outcome.series
    for key, column in series.values.items():
        if key.startswith("rss_mb:"):
            axes[2].plot(series.t[: len(column)], column, label=f"worker {key.split(':')[1]}")
    axes[2].set_ylabel("RSS (MB)")
    if any(k.startswith("rss_mb:") for k in series.values):
        axes[2].legend(loc="upper left")
    for key, column in series.values.items():
        if key.startswith("breaker:"):
            axes[3].step(series.t[: len(column)], column, where="post", label=key.split(":", 1)[1])
    for tier in (1, 2, 3):
        axes[3].plot(
            ts,
            [sum(1 for r in w if r.ok and r.tier == tier) / max(1, sum(1 for r in w if r.ok)) for _, w in windows],
            linestyle=":",
            label=f"tier {tier} share",
        )
    axes[3].set_ylabel("breaker (0 closed, 1 half, 2 open) / tier share")
    axes[3].legend(loc="upper right", fontsize="small")
    for key in ("pool_size", "pool_available", "pool_waiting", "streams_open"):
        if series.values.get(key):
            axes[4].plot(series.t[: len(series.values[key])], series.values[key], label=key.replace("_", " "))
    axes[4].set_ylabel("pool / streams")
    axes[4].set_xlabel("seconds since the start")
    axes[4].legend(loc="upper right")
    for name, start in run.outcome.phases:
        for ax in axes:
            ax.axvline(start, color="grey", linewidth=0.6)
        axes[0].annotate(name, (start, 0), fontsize="x-small", rotation=90, va="bottom")
    fig.suptitle(f"{run.scenario.id} {run.scenario.title} — {run.profile}")
    fig.tight_layout()
    path = directory / f"{run.scenario.id}-{run.profile}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
