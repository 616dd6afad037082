"""Server-side figures over time during a run: breaker states, RSS per worker, pool use, admission and
late-work counters, read from the deployment's own endpoints (/metrics, /api/health/*)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx
import psutil

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")


def parse_metrics(text: str) -> dict[str, dict[str, float]]:
    """Returns metric name -> {label string: value} from Prometheus text format."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            try:
                out[name][labels or ""] = float(value)
            except ValueError:
                continue
    return out


def total(metrics: dict[str, dict[str, float]], name: str, *labels: str) -> float:
    """Sum of ``name`` over the series carrying every one of ``labels`` (e.g. 'kind="answer"')."""
    return sum(v for found, v in metrics.get(name, {}).items() if all(label in found for label in labels))


# The layers whose refusals the stress reports time (labels of tomehub_shed_seconds).
SHED_LAYERS = ("edge", "admission")
# Where a served request's time goes, as cumulative (seconds, count) pairs: the wait for a slot on
# arrival and after a provider call, the query-embedding call itself, and full garbage collections;
# and how long refused requests were in the worker, by the layer that refused them.
TIME_SPENT = {
    "queue_wait": ("tomehub_admission_wait_seconds", 'priority="interactive"'),
    "resume_wait": ("tomehub_admission_wait_seconds", 'priority="resuming"'),
    "embedding_call": ("tomehub_llm_call_seconds", 'operation="search-embedding"'),
    "gc_full": ("tomehub_gc_pause_seconds", 'generation="2"'),
    **{f"shed_{layer}": ("tomehub_shed_seconds", f'where="{layer}"') for layer in SHED_LAYERS},
}
# Issue 13's bound on a refusal (503): the scenarios' shed p99 target by the clients' clock, and the
# bucket of tomehub_shed_seconds the monitor counts refusals sent within it by the server's.
SHED_TARGET_S = 0.05


def time_spent(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """The TIME_SPENT sums and counts (keys ``<name>:sum`` and ``<name>:count``) over every worker."""
    out: dict[str, float] = {}
    for name, (metric, label) in TIME_SPENT.items():
        if f"{metric}_count" in metrics:
            out[f"{name}:sum"] = total(metrics, f"{metric}_sum", label)
            out[f"{name}:count"] = total(metrics, f"{metric}_count", label)
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (NaN once it is gone)."""
    try:
        return float(psutil.Process(pid).memory_info().rss / 1e6)
    except psutil.Error:
        return math.nan


@dataclass
class Series:
    """Samples taken every ``interval_s``: t (seconds since the run started) and named values."""

    t: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, t: float, sample: dict[str, float]) -> None:
        self.t.append(t)
        for key in set(self.values) | set(sample):
            column = self.values[key]
            column.extend([float("nan")] * (len(self.t) - 1 - len(column)))
            column.append(sample.get(key, float("nan")))


class Monitor:
    def __init__(self, base_url: str, pids: list[int], started: float, interval_s: float = 1.0) -> None:
        self.base_url = base_url
        self.pids = pids
        self.started = started
        self.interval_s = interval_s
        self.series = Series()
        self.last_metrics: dict[str, dict[str, float]] = {}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as http:
            while not self._stop.is_set():
                sample: dict[str, float] = {}
                for pid in self.pids:
                    sample[f"rss_mb:{pid}"] = rss_mb(pid)
                try:
                    metrics = parse_metrics((await http.get("/metrics")).text)
                    self.last_metrics = metrics
                    for labels, value in metrics.get("tomehub_breaker_state", {}).items():
                        op = re.search(r'operation="([^"]+)"', labels)
                        if op:
                            sample[f"breaker:{op.group(1)}"] = max(sample.get(f"breaker:{op.group(1)}", 0), value)
                    for figure in ("size", "available", "waiting"):
                        sample[f"pool_{figure}"] = total(metrics, "tomehub_db_pool", f'figure="{figure}"')
                    sample["streams_open"] = total(metrics, "tomehub_streams_open")
                    # Where requests were turned away (cumulative over the workers) and how late the
                    # latest worker's loop runs: the server's side of a ramp step.
                    for labels, value in metrics.get("tomehub_admission_total", {}).items():
                        outcome = re.search(r'outcome="([^"]+)"', labels)
                        if outcome:
                            sample[f"admission:{outcome.group(1)}"] = value
                    # Requests whose deadline had passed when a worker first saw them, and answers
                    # that started after it: where the clients' timeouts were lost.
                    for moment in ("arrival", "answer"):
                        sample[f"late:{moment}"] = total(
                            metrics, "tomehub_deadline_left_seconds_bucket", f'moment="{moment}"', 'le="0.0"'
                        )
                    for where in SHED_LAYERS:
                        sample[f"shed_fast:{where}"] = total(
                            metrics, "tomehub_shed_seconds_bucket", f'where="{where}"', f'le="{SHED_TARGET_S}"'
                        )
                    lag = total(metrics, "tomehub_edge_signal", 'signal="loop_lag_seconds"')
                    sample["server_loop_lag_ms"] = lag * 1000
                    # Every tick of every worker's loop, and those that ran over the shed target late:
                    # a refusal cannot leave a worker sooner than its loop gets to the request.
                    sample["loop_ticks"] = total(metrics, "tomehub_loop_lag_seconds_count")
                    sample["loop_late"] = sample["loop_ticks"] - total(
                        metrics, "tomehub_loop_lag_seconds_bucket", f'le="{SHED_TARGET_S}"'
                    )
                    sample.update(time_spent(metrics))
                except (httpx.HTTPError, ValueError):
                    sample["metrics_unreachable"] = 1.0
                self.series.add(time.monotonic() - self.started, sample)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval_s)

    def stop(self) -> None:
        self._stop.set()

    def between(self, key: str, start: float, end: float) -> list[float]:
        """The samples of ``key`` taken in [start, end] (seconds since the run started), NaNs left out."""
        values = self.series.values.get(key, [])
        return [v for t, v in zip(self.series.t, values, strict=False) if start <= t <= end and not math.isnan(v)]
