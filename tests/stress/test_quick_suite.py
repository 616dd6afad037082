"""`tomehub stress all --quick`: every scenario of the SRE report against real deployments (embedded
PostgreSQL, two workers, Redis, the fake provider as an HTTP server), for seconds each. The command
fails when a mechanism did not engage; the report must hold every scenario's figures and plots. The load
comes from two processes, so the multi-process generator is exercised end to end, and every run
carries the generator's self-check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tomehub.stress.runner import SCENARIOS


def test_quick_suite_engages_every_mechanism(tmp_path: Path) -> None:
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "tomehub", "stress", "all", "--quick", "--load-processes", "2", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=1800,
        # Plain tracebacks: rich's boxed ones fill the kept tail with the innermost frames only.
        env={**os.environ, "_TYPER_STANDARD_TRACEBACK": "1"},
    )
    assert done.returncode == 0, done.stderr[-12000:]
    text = (report / "report.md").read_text()
    for sid in SCENARIOS:
        assert f"## {sid} — " in text, f"scenario {sid} missing from the report"
        assert (report / f"{sid}-hardened.png").stat().st_size > 10_000
    mechanisms = re.findall(r"- mechanism — (.+): (yes|NO)", text)
    assert len(mechanisms) >= len(SCENARIOS)
    assert [m for m, engaged in mechanisms if engaged != "yes"] == []
    # The ramp: no connection refused or reset at any step.
    ramp = text.split("## ramp — ", 1)[1]
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", ramp, re.MULTILINE)
    assert rows and all(int(row[5]) == 0 for row in rows)
    # Targets met or missed, and the load generator's self-check in every run.
    assert "Targets:" in ramp and "| target | measured | verdict | load generator |" in ramp
    assert text.count("Load generator self-check (") == len(SCENARIOS)
