"""``tomehub stress``: runs scenarios against a local deployment (or ``--target``) and writes reports."""

from __future__ import annotations

import asyncio
import datetime as dt
import platform
from pathlib import Path

from rich.console import Console

from tomehub.stress.deployment import Deployment, local_deployment, seed_library
from tomehub.stress.scenarios import llm_degradation

console = Console(stderr=True)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def run_llm_degradation(*, users: int, scale: float, report_dir: Path, target: Deployment | None) -> str:
    """Scenario 2: returns the markdown report (also written under ``report_dir``)."""

    async def go(deployment: Deployment) -> str:
        console.print("seeding the library (demo documents for a few users)…")
        await seed_library(deployment, users=min(users, 5))
        console.print(f"running scenario 2 with {users} users, {scale:g} × the full timeline…")
        result = await llm_degradation.run(deployment, users=users, scale=scale)
        return llm_degradation.report(result)

    if target is not None:
        table = asyncio.run(go(target))
    else:
        with local_deployment(users=users) as deployment:
            table = asyncio.run(go(deployment))
    text = (
        f"## Scenario 2 — LLM degradation ({users} concurrent searchers)\n\n"
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; timeline × {scale:g}.\n\n{table}\n"
    )
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "scenario-2.md").write_text(text)
    return text
