"""The load generator's bookkeeping: records from several processes merged into one run, the
self-check's verdict, Retry-After parsing and pauses, and the ramp's targets."""

from __future__ import annotations

import email.utils
import pickle
import random
import time

import pytest

from tomehub.stress.load import LoadClient, retry_after_s
from tomehub.stress.monitor import Monitor, parse_metrics, time_spent
from tomehub.stress.pool import default_processes, merge, phase_at
from tomehub.stress.records import Record
from tomehub.stress.scenarios.base import Questions, search
from tomehub.stress.scenarios.ramp import Step, loop_label, ramp_targets, server_view, shed_counts
from tomehub.stress.selfcheck import Bounds, SelfCheck, Verdict

TIMELINE = [(0.0, "10 users"), (25.0, "50 users"), (50.0, "100 users")]


def test_records_from_children_take_the_phase_of_their_start() -> None:
    run = [Record(1.0, 2.0, 200, "search", phase="10 users")]  # the parent's own
    child = [
        Record(24.9, 26.0, 200, "search", process=1),
        Record(25.0, 25.5, 503, "search", process=2),
        Record(60.0, 61.0, 200, "search", process=1),
    ]
    merge(run, child, TIMELINE)
    assert [r.phase for r in run] == ["10 users", "10 users", "50 users", "100 users"]
    assert phase_at(TIMELINE, -0.1) == ""


def test_one_process_per_250_users_at_most_one_per_core() -> None:
    assert default_processes(10, cores=2) == 1
    assert default_processes(100, cores=2) == 1
    assert default_processes(101, cores=2) == 2
    assert default_processes(1000, cores=2) == 2
    assert default_processes(1000, cores=8) == 8
    assert default_processes(300, cores=8) == 3


def test_requests_pickle_to_a_load_process_and_ask_their_own_questions() -> None:
    request = search(Questions(seed=8).fresh)
    one, two = pickle.loads(pickle.dumps(request)), pickle.loads(pickle.dumps(request))
    one.reseed("1:1")
    two.reseed("1:2")
    assert [one.questions() for _ in range(5)] != [two.questions() for _ in range(5)]


def _check(lags_ms: list[float], cpu: list[float], process: int = 1) -> Verdict:
    checks = SelfCheck(Bounds(max_lag_ms=100, max_cpu_percent=90))
    checks.add(
        process, [(i * 0.05, v / 1000) for i, v in enumerate(lags_ms)], [(float(i), c) for i, c in enumerate(cpu)]
    )
    checks.add(0, [(0.0, 0.001)], [(0.0, 5.0)])  # the parent, idle
    return checks.verdict(0.0, 1000.0)


def test_a_generator_with_a_late_loop_is_not_trustworthy() -> None:
    fine = _check([2.0] * 99 + [80.0], [40.0, 50.0])
    assert fine.trustworthy and fine.label() == "ok"
    late = _check([2.0] * 90 + [400.0] * 10, [40.0, 50.0])
    assert not late.trustworthy
    assert late.reasons == ["process 1: loop lag p99 400 ms > 100 ms"]
    assert late.worst() is not None and late.worst().lag_max_ms == 400.0  # type: ignore[union-attr]


def test_a_generator_with_a_saturated_cpu_is_not_trustworthy() -> None:
    busy = _check([2.0] * 100, [95.0, 99.0, 92.0])
    assert not busy.trustworthy and "CPU 95 % of a core" in busy.reasons[0]


def test_the_verdict_counts_only_the_phase_window() -> None:
    checks = SelfCheck()
    checks.add(1, [(1.0, 0.002), (30.0, 2.0)], [(1.0, 10.0), (30.0, 100.0)])
    assert checks.verdict(0.0, 25.0).trustworthy
    assert not checks.verdict(25.0, 50.0).trustworthy


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("1") == 1.0
    assert retry_after_s("2.5") == 2.5
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("86400") == 30.0  # capped: a user would have left
    at = email.utils.formatdate(time.time() + 3, usegmt=True)
    assert 1.5 <= (retry_after_s(at) or 0) <= 3.0


def test_pause_honours_retry_after_or_storms() -> None:
    client = LoadClient.__new__(LoadClient)  # no HTTP client needed for the arithmetic
    client.retry_jitter = 0.5
    shed = Record(0.0, 0.01, 503, "search", retry_after=2.0)
    ok = Record(0.0, 1.0, 200, "search")
    rng = random.Random(1)
    pauses = [client.pause_after(shed, rng, (0.5, 1.5), "honour") for _ in range(50)]
    assert all(2.0 <= p <= 3.0 for p in pauses)
    assert client.pause_after(shed, rng, (0.5, 1.5), "ignore") == 0.0
    assert 0.5 <= client.pause_after(ok, rng, (0.5, 1.5), "ignore") <= 1.5
    timeout = Record(0.0, 6.0, 0, "search", error="timeout")
    assert 0.5 <= client.pause_after(timeout, rng, (0.5, 1.5), "honour") <= 1.5


def _step(
    users: int, served: int, *, shed: int = 0, timeouts: int = 0, shed_ms: float = 5.0, p95: float = 3000
) -> Step:
    trusted = Verdict([], 50.0, [])
    return Step(users, 25.0, served + shed + timeouts, served, 0, shed, timeouts, 0, p95, shed_ms, trusted)


def test_ramp_targets_met_and_missed() -> None:
    steps = [_step(10, 100), _step(200, 1000, p95=4500), _step(1000, 950, shed=3000, shed_ms=12)]
    verdicts = {row["target"]: row["verdict"] for row in ramp_targets(steps)}
    assert set(verdicts.values()) == {"met"}
    slow = [_step(10, 100), _step(200, 1000, p95=5200), _step(1000, 400, shed=100, timeouts=900, shed_ms=4000)]
    rows = {row["target"]: row for row in ramp_targets(slow)}
    assert rows["every step: 100 % served within the SLA or shed"]["verdict"] == "**missed**"
    assert rows["every step: shed p99 <= 50 ms"]["measured"] == "highest 4000 ms at 1000 users"
    assert rows["served p95 at 200 users <= 4.8 s"]["verdict"] == "**missed**"
    assert rows["goodput at 1000 users >= 90% of the ramp's peak"]["verdict"] == "**missed**"
    assert slow[2].row()["target"] == "**missed**: 64.3% neither served in time nor shed, shed p99 4000 ms"


def test_only_processes_that_sent_requests_are_judged() -> None:
    checks = SelfCheck()
    checks.add(0, [(1.0, 0.5)], [(1.0, 99.0)])  # the parent: late, but only coordinating
    checks.add(1, [(1.0, 0.002)], [(1.0, 30.0)])
    assert not checks.verdict(0.0, 10.0).trustworthy
    coordinating = checks.verdict(0.0, 10.0, senders={1})
    assert coordinating.trustworthy and coordinating.worst().process == 1  # type: ignore[union-attr]
    assert [p.judged for p in coordinating.processes] == [False, True]


def test_the_ramp_reads_the_servers_decisions_over_a_step() -> None:
    monitor = Monitor("http://unused", [], 0.0)
    monitor.series.add(9.5, {"admission:shed": 4.0, "server_loop_lag_ms": 700.0, "loop_ticks": 100, "loop_late": 7})
    monitor.series.add(10.5, {"admission:shed": 10.0, "admission:shed_edge": 3.0, "server_loop_lag_ms": 20.0})
    monitor.series.add(15.0, {"admission:shed": 12.0, "admission:shed_edge": 5.0, "server_loop_lag_ms": 60.0})
    monitor.series.add(
        20.5,
        {
            "admission:shed": 25.0,
            "admission:shed_edge": 9.0,
            "server_loop_lag_ms": 900.0,
            "loop_ticks": 500,
            "loop_late": 27,
        },
    )
    view = server_view(monitor, 10.0, 20.0)
    # Counter deltas from the last sample before the step (a counter not yet exported counts from 0);
    # the counters' sample just after the step counts (its last second), the lag is the step's own;
    # 20 of the step's 400 loop ticks ran over 50 ms late.
    assert view == {"shed": 21.0, "shed_edge": 9.0, "loop_lag_ms": 60.0, "loop_late_share": 0.05}
    assert loop_label(view) == "60, 5.0%"
    assert shed_counts(view) == "9/21/–, –"  # nothing expired, nobody held


def test_the_ramp_says_where_a_steps_served_requests_spent_their_time() -> None:
    metrics = parse_metrics(
        "\n".join(
            [
                'tomehub_admission_wait_seconds_sum{priority="interactive"} 12.0',
                'tomehub_admission_wait_seconds_count{priority="interactive"} 40.0',
                'tomehub_admission_wait_seconds_sum{priority="resuming"} 1.0',
                'tomehub_admission_wait_seconds_count{priority="resuming"} 20.0',
                'tomehub_llm_call_seconds_sum{operation="search-embedding"} 30.0',
                'tomehub_llm_call_seconds_count{operation="search-embedding"} 20.0',
                'tomehub_llm_call_seconds_sum{operation="generation"} 99.0',
                'tomehub_llm_call_seconds_count{operation="generation"} 1.0',
            ]
        )
    )
    assert time_spent(metrics) == {
        "queue_wait:sum": 12.0,
        "queue_wait:count": 40.0,
        "resume_wait:sum": 1.0,
        "resume_wait:count": 20.0,
        "embedding_call:sum": 30.0,
        "embedding_call:count": 20.0,
    }  # fmt: skip  (no collection yet: no gc_full figures rather than zeros)
    monitor = Monitor("http://unused", [], 0.0)
    monitor.series.add(9.5, {"queue_wait:sum": 2.0, "queue_wait:count": 10.0})  # before the step
    monitor.series.add(15.0, time_spent(metrics))
    view = server_view(monitor, 10.0, 20.0)
    # Means over the step's requests only: (12 - 2) s over (40 - 10) waits; from 0 where unsampled.
    assert view["queue_wait_ms"] == pytest.approx(10.0 / 30 * 1000)
    assert view["queue_wait_n"] == 30.0
    assert view["embedding_call_ms"] == pytest.approx(1500.0)
    assert "gc_full_ms" not in view


def test_the_ramp_counts_the_refusals_that_took_the_server_itself_past_the_target() -> None:
    monitor = Monitor("http://unused", [], 0.0)
    base = {"shed_admission:sum": 1.0, "shed_admission:count": 10.0, "shed_fast:admission": 9.0}
    monitor.series.add(9.5, base)
    # In the step: 20 more refusals after a wait for a slot, 15 of them sent within 50 ms.
    monitor.series.add(20.5, {"shed_admission:sum": 3.0, "shed_admission:count": 30.0, "shed_fast:admission": 24.0})
    view = server_view(monitor, 10.0, 20.0)
    assert view["shed_admission_n"] == 20.0
    assert view["shed_slow_admission"] == 5.0
    assert view["shed_admission_ms"] == pytest.approx(100.0)
    assert "shed_slow_edge" not in view  # none refused at the edge: nothing to say
