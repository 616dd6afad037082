"""``tomehub stress``: runs the report's scenarios against fresh local deployments (or ``--target``),
in the hardened profile, the baseline profile, or both, and writes a report with plots."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from tomehub.stress.deployment import ACCOUNTS, DEAD_REDIS, Deployment, client_tokens, local_deployment, seed_library
from tomehub.stress.monitor import Monitor
from tomehub.stress.pool import LoadPool, default_processes
from tomehub.stress.records import summarize
from tomehub.stress.scenarios.base import Context, Outcome
from tomehub.stress.scenarios.ingestion_peak import ingestion_peak
from tomehub.stress.scenarios.llm_degradation import llm_degradation
from tomehub.stress.scenarios.n_plus_one import n_plus_one
from tomehub.stress.scenarios.ramp import ramp
from tomehub.stress.scenarios.retry_storm import retry_storm
from tomehub.stress.scenarios.search_load import cold_cache, concurrent_search
from tomehub.stress.scenarios.streams import streaming_memory
from tomehub.stress.scenarios.timeout_cascade import timeout_cascade
from tomehub.stress.selfcheck import Bounds, Verdict

console = Console(stderr=True)

# Stress runs measure capacity, not abuse protection: per-user limits high enough that a few
# accounts can carry a thousand sessions (the global limit still applies).
_STRESS_ENV = {
    "TOMEHUB_RATE_LIMITS__PER_USER": '{"search": "500/second", "ask": "500/second", "default": "500/second"}'
}


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    load: str
    run: Callable[[Context], Awaitable[Outcome]]
    users: int
    # Seconds of load at scale 1 (what --duration is measured against).
    length_s: float
    env: dict[str, str] = field(default_factory=dict)
    # Users in a --quick run: enough to engage the mechanisms in seconds.
    quick_users: int = 20


SCENARIOS = {
    s.id: s
    for s in (
        Scenario(
            "1a",
            "Concurrent search, warm cache",
            "100 users asking questions (/api/search)",
            concurrent_search,
            100,
            90,
        ),
        Scenario(
            "1b",
            "Cold cache, Redis down",
            "100 users, fresh questions, Redis unreachable",
            cold_cache,
            100,
            90,
            {"TOMEHUB_REDIS_URL": DEAD_REDIS},
        ),
        Scenario(
            "2",
            "LLM degradation",
            "50 searchers; provider 1-2 s, then 5 s, then 50 % errors, then recovered",
            llm_degradation,
            50,
            300,
        ),
        Scenario(
            "2b",
            "Ingestion + peak search",
            "50 searchers idle, then while 10,000 documents ingest",
            ingestion_peak,
            50,
            150,
        ),
        Scenario(
            "3",
            "Streaming memory",
            "40, 70, then 500 concurrent streams to slow readers",
            streaming_memory,
            500,
            105,
            quick_users=50,
        ),
        Scenario("4", "N+1", "10 users fetching the details of 100 hits each", n_plus_one, 10, 0, quick_users=3),
        Scenario(
            "5",
            "Timeout cascade",
            "200 users without pause; provider saturated (4 s / 8 s)",
            timeout_cascade,
            200,
            60,
            quick_users=50,
        ),
        Scenario("ramp", "Breaking points", "10 -> 50 -> 100 -> 150 -> 200 -> 500 -> 1000 searchers", ramp, 1000, 175),
        Scenario(
            "storm",
            "Retry storm",
            "50 searchers; then 500 clients that ignore Retry-After and retry at once while the provider is "
            "saturated (4 s / 8 s); then 50 searchers on a healthy provider",
            retry_storm,
            500,
            95,
            quick_users=50,
        ),
    )
}


# Local runs start the server at nice 10: on two shared cores the generator's loops ran seconds late,
# starved by the server rather than busy (docs/stress-results.md). At nice 10 the scheduler gives
# the generator ~10x the server's weight whenever both want a core.
SERVER_NICE = 10

# --quick: a tenth of every phase (at least 3 s).
QUICK_SCALE = 0.1


@dataclass(frozen=True)
class LoadOptions:
    """How the load is generated (``tomehub stress --load-processes`` and the self-check bounds)."""

    processes: int | None = None  # None: default_processes(users)
    bounds: Bounds = field(default_factory=Bounds)
    deadline_at: bool = True
    # A local server runs at this lower CPU priority (nice), so the load processes beside it are not
    # starved by it (deployment.py); 0: both sides compete as equals.
    server_nice: int = SERVER_NICE


@dataclass
class PhaseCheck:
    """The load generator's self-check over one phase of a run."""

    phase: str
    start: float
    end: float
    verdict: Verdict


@dataclass
class Run:
    scenario: Scenario
    profile: str
    outcome: Outcome
    seconds: float
    checks: list[PhaseCheck] = field(default_factory=list)
    processes: int = 1
    bounds: Bounds = field(default_factory=Bounds)
    local: bool = True  # the server ran on this machine (no --target)
    server_nice: int = 0  # its CPU priority below the generator's (local runs)

    def untrusted(self) -> list[PhaseCheck]:
        return [c for c in self.checks if not c.verdict.trustworthy]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def phase_checks(client: LoadPool, phases: list[tuple[str, float]], end: float) -> list[PhaseCheck]:
    """The self-check of every phase: from its start to the next one's (the last to ``end``)."""
    bounds = [(name, start, phases[i + 1][1] if i + 1 < len(phases) else end) for i, (name, start) in enumerate(phases)]
    return [PhaseCheck(name, start, stop, client.self_check(start, stop)) for name, start, stop in bounds]


async def _drive(
    scenario: Scenario, deployment: Deployment, *, scale: float, users: int, quick: bool, load: LoadOptions
) -> tuple[Outcome, list[PhaseCheck], int]:
    processes = load.processes or default_processes(users)
    client = LoadPool(deployment.base_url, deployment.tokens, deadline_at=load.deadline_at, processes=processes)
    client.checks.bounds = load.bounds
    client.start()  # the load processes start while the library is seeded
    try:
        seeding = time.monotonic()
        await seed_library(deployment, users=min(ACCOUNTS, len(deployment.tokens)))
        console.print(
            f"  library seeded for {ACCOUNTS} accounts in {time.monotonic() - seeding:.0f} s; "
            f"load from {processes} process{'es' if processes > 1 else ''}"
        )
        await client.ready()
        client.start_probe(0, machine=True)
        return await _measure(scenario, deployment, client, scale=scale, users=users, quick=quick, processes=processes)
    finally:
        await client.close()


async def _measure(
    scenario: Scenario,
    deployment: Deployment,
    client: LoadPool,
    *,
    scale: float,
    users: int,
    quick: bool,
    processes: int,
) -> tuple[Outcome, list[PhaseCheck], int]:
    monitor = Monitor(deployment.base_url, deployment.server_pids(), client.started)
    sampler = asyncio.create_task(monitor.run())
    ctx = Context(deployment, client, monitor, scale, users, quick)
    live = Table.grid()
    try:
        with Live(live, console=console, refresh_per_second=2, transient=True) as view:

            async def progress() -> None:
                while True:
                    s = summarize(client.records)
                    view.update(
                        f"[bold]{scenario.id}[/] {deployment.profile} · {client.phase} · {s.requests} requests · "
                        f"ok {s.ok} · shed {s.shed} · timeouts {s.timeouts} · errors {s.errors} · "
                        f"p95 {s.p95_ms:.0f} ms"
                    )
                    await asyncio.sleep(0.5)

            ticker = asyncio.create_task(progress())
            try:
                outcome = await scenario.run(ctx)
            finally:
                ticker.cancel()
            return outcome, phase_checks(client, outcome.phases, client.now()), processes
    finally:
        monitor.stop()
        await sampler


def target_deployment(url: str, signing_key: Path, fake_url: str | None, clients: int) -> Deployment:
    """A running deployment to load: a token for each of ``clients`` simulated users, signed with its key."""
    tokens = client_tokens(signing_key, clients)
    return Deployment(url.rstrip("/"), fake_url.rstrip("/") if fake_url else None, tokens, profile="target")


def scale_for(scenario: Scenario, *, scale: float, duration_s: float | None, quick: bool) -> float:
    if quick:
        return QUICK_SCALE
    if duration_s is not None and scenario.length_s:
        return duration_s / scenario.length_s
    return scale


def run_scenario(
    scenario: Scenario,
    profile: str,
    *,
    scale: float,
    users: int | None,
    quick: bool,
    workers: int,
    target: Deployment | None = None,
    load: LoadOptions | None = None,
) -> Run:
    started = time.monotonic()
    load = load or LoadOptions()
    n = users or (scenario.quick_users if quick else scenario.users)
    console.print(f"[bold]{scenario.id}[/] {scenario.title} — {profile}, {n} users, {workers} workers")
    if target is not None:
        outcome, checks, processes = asyncio.run(_drive(scenario, target, scale=scale, users=n, quick=quick, load=load))
    else:
        env = {**_STRESS_ENV, **scenario.env}
        with local_deployment(
            users=max(n, ACCOUNTS), profile=profile, workers=workers, env=env, server_nice=load.server_nice
        ) as deployment:
            outcome, checks, processes = asyncio.run(
                _drive(scenario, deployment, scale=scale, users=n, quick=quick, load=load)
            )
    local = target is None
    nice = load.server_nice if local else 0
    run = Run(scenario, profile, outcome, time.monotonic() - started, checks, processes, load.bounds, local, nice)
    for check in run.untrusted():
        console.print(
            f"  [red]load generator NOT TRUSTWORTHY in phase {check.phase!r}:[/] " + "; ".join(check.verdict.reasons)
        )
    return run


def run_all(
    ids: list[str],
    profiles: list[str],
    *,
    scale: float,
    duration_s: float | None,
    users: int | None,
    quick: bool,
    workers: int,
    report_dir: Path,
    command: str,
    target: Deployment | None = None,
    load: LoadOptions | None = None,
) -> list[Run]:
    """Runs each scenario in each profile (a fresh deployment each time unless ``target``); the
    report is rewritten after every run, so an interrupted suite still leaves its figures."""
    from tomehub.stress.report import write_report

    runs: list[Run] = []
    began_at = dt.datetime.now(dt.UTC)
    began = time.monotonic()
    for sid in ids:
        scenario = SCENARIOS[sid]
        for profile in profiles:
            runs.append(
                run_scenario(
                    scenario,
                    profile,
                    scale=scale_for(scenario, scale=scale, duration_s=duration_s, quick=quick),
                    users=users,
                    quick=quick,
                    workers=workers,
                    target=target,
                    load=load,
                )
            )
            write_report(
                runs, report_dir, command=command, machine=machine(), began=began_at, elapsed_s=time.monotonic() - began
            )
    return runs
