"""The garbage collector: the start-up heap frozen, and every collection's pause measured.

A worker holds ~245,000 container objects once started (FastAPI and pydantic models, the MCP SDK,
the embedder's tokeniser). CPython's full collection walks all of them: 270-290 ms on this machine,
during which the worker's event loop runs nothing, so every request in flight and every 503 the
edge would answer waits that long (docs/stress-results.md). None of those objects is ever garbage:
``gc.freeze()`` moves them to a permanent generation the collector skips, and the same full
collection then takes ~2 ms. Collections still run for everything allocated afterwards.

Each collection's pause is recorded in ``tomehub_gc_pause_seconds`` so a slow loop can be told
from a slow collector.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from tomehub.metrics import GC_PAUSE

_log = logging.getLogger(__name__)
_started: list[float] = []


def _measure(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        GC_PAUSE.labels(str(info.get("generation", "?"))).observe(time.perf_counter() - _started.pop())


def freeze_startup_heap() -> int:
    """Collects once, then freezes every object alive (call when start-up is done), and starts
    measuring each collection's pause; returns how many objects are frozen. Once per process: a
    worker serves one app, and a process that starts several (the tests) pays the collection once."""
    if _measure in gc.callbacks:
        return gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_measure)
    frozen = gc.get_freeze_count()
    _log.info("start-up heap frozen: %d objects the collector will not walk again", frozen)
    return frozen
