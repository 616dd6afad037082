"""The start-up heap is frozen once per process, and collections are timed."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from tomehub.ops import heap


def _full_collections() -> float:
    return REGISTRY.get_sample_value("tomehub_gc_pause_seconds_count", {"generation": "2"}) or 0.0


def test_the_heap_is_frozen_once_and_every_later_collection_is_timed() -> None:
    already = heap._measure in gc.callbacks  # an app started earlier in this test process froze it
    try:
        frozen = heap.freeze_startup_heap()
        assert frozen > 1000 and gc.get_freeze_count() == frozen  # this test process's modules, at least
        # A second app in the same process (as in the tests) neither collects nor freezes again.
        made_since = [[] for _ in range(10)]  # would be frozen too by a second freeze
        assert heap.freeze_startup_heap() == frozen
        del made_since
        before = _full_collections()
        gc.collect()
        # The full collection was timed (other threads of the test process may collect too).
        assert _full_collections() >= before + 1
    finally:
        if not already:
            gc.callbacks[:] = [c for c in gc.callbacks if c is not heap._measure]
            gc.unfreeze()
