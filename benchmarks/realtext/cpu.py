"""CPU seconds of process trees (a server and its children, PostgreSQL and its backends)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil


def tree_cpu_s(pid: int) -> float:
    """User + system seconds of ``pid`` and every live descendant, plus what each has reaped: a
    backend that exits between two readings moves into its parent's ``children_*`` counters, so a
    delta of two readings keeps it."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        # A process may end between listing and reading; its time then shows in its parent's reaped counters.
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass
class Meter:
    """Named process trees, read together: ``reading()`` now, ``since(reading)`` the deltas."""

    roots: dict[str, int]

    def reading(self) -> dict[str, float]:
        return {name: tree_cpu_s(pid) for name, pid in self.roots.items()}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        now = self.reading()
        return {name: now[name] - before.get(name, 0.0) for name in now}
