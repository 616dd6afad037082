"""Tables printed as aligned text and written as Markdown, plus the machine's description."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([_cell(c) for c in cells])

    def text(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(self.headers)]
        lines = [self.title, "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += [
            "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
            for r in self.rows
        ]
        lines += [f"  * {n}" for n in self.notes]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.headers) + " |"]
        lines.append(
            "|" + "|".join("---:" if _numeric(self.rows[0][i]) else "---" for i in range(len(self.headers))) + "|"
        )
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("×", "").replace("%", "").replace("-", "")
    return stripped.isdigit()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def nproc() -> int:
    return len(os.sched_getaffinity(0))


@contextmanager
def written_report(title: str, script: str, argv: list[str], path: Path, repo: Path) -> Iterator[list[str]]:
    """Yields a report's lines, opened with the command, date, code, machine and load, and writes them
    to ``path`` with the load at the end, even when the run fails half-way."""
    out = [
        f"# {title}",
        "",
        f"Command: `{shlex.join(['.venv/bin/python', script, *argv])}`",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        f"- TomeHub code: {git_revision(repo)}",
        f"- Machine: {nproc()} CPUs ({cpu_model()}), {memory_gb():.0f} GB RAM",
        f"- Load average (1/5/15 min) at the start: {load_average()}",
    ]
    try:
        yield out
    finally:
        out.append(f"- Load average (1/5/15 min) at the end: {load_average()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out) + "\n")
        print(f"\nwritten: {path}", file=sys.stderr)


def git_revision(repo: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev} (src/ with uncommitted changes)" if dirty else rev


@dataclass
class _Proc:
    ppid: int
    command: str
    ticks: int
    used: int = 0


class CpuWitness:
    """Samples /proc while the benchmark runs and tells how much CPU other processes took: on a
    2-core machine, a foreign job skews every figure, so the report says so."""

    def __init__(self, own_marker: str, interval_s: float = 2.0) -> None:
        self._marker = own_marker  # a path only this run's processes (its PostgreSQL) carry
        self._interval = interval_s
        self._procs: dict[int, _Proc] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._sample()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            ppid, ticks = int(fields[1]), int(fields[11]) + int(fields[12])
            seen = self._procs.get(pid)
            if seen is None:
                self._procs[pid] = _Proc(ppid, command.strip() or stat.split("(", 1)[1].split(")")[0], ticks)
            else:
                seen.used += max(0, ticks - seen.ticks)
                seen.ticks = ticks

    def stop(self) -> str:
        """Returns a one-line account of the foreign CPU use since start()."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        wall = time.monotonic() - self._started
        own = self._own()
        hz = os.sysconf("SC_CLK_TCK")
        foreign = {pid: p for pid, p in self._procs.items() if pid not in own and p.used > 0}
        total = sum(p.used for p in foreign.values()) / hz
        top = sorted(foreign.values(), key=lambda p: -p.used)[:3]
        names = "; ".join(f"{p.command[:80]} ({p.used / hz:,.0f} s)" for p in top)
        return f"{total:,.0f} CPU-s in {wall:,.0f} s wall = {total / wall:.2f} cores on average" + (
            f" — top: {names}" if names else ""
        )

    def _own(self) -> set[int]:
        roots = {os.getpid()} | {pid for pid, p in self._procs.items() if self._marker in p.command}
        children: dict[int, list[int]] = {}
        for pid, p in self._procs.items():
            children.setdefault(p.ppid, []).append(pid)
        own, stack = set(), list(roots)
        while stack:
            pid = stack.pop()
            if pid not in own:
                own.add(pid)
                stack.extend(children.get(pid, []))
        return own
