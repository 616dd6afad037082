"""The start-up heap is frozen once per process, and collections are timed."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from tomehub.ops import heap


def _collections() -> float:
    return sum(
        REGISTRY.get_sample_value("tomehub_gc_pause_seconds_count", {"generation": g}) or 0.0 for g in ("0", "1", "2")
    )


def test_the_heap_is_frozen_once_and_every_later_collection_is_timed() -> None:
    try:
        frozen = heap.freeze_startup_heap()
        assert frozen > 1000 and gc.get_freeze_count() == frozen  # this test process's modules, at least
        # A second app in the same process (as in the tests) neither collects nor freezes again.
        made_since = [[] for _ in range(10)]  # would be frozen too by a second freeze
        assert heap.freeze_startup_heap() == frozen
        del made_since
        before = _collections()
        gc.collect()
        assert _collections() == before + 1  # the full collection was timed
    finally:
        gc.callbacks[:] = [c for c in gc.callbacks if c is not heap._measure]
        gc.unfreeze()
