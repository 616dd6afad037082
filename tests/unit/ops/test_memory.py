"""After keep_freed_memory, search-sized arrays freed and allocated again reuse the heap's pages
instead of faulting in fresh ones each time."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Run in a fresh process: the thresholds, once set, stay set for the whole process.
_PROBE = """
import resource
import numpy as np
from tomehub.ops.memory import keep_freed_memory

def faults_per_round() -> float:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        # As a search's BM25 scoring: several arrays of 0.4-0.8 MB alive at once, then all freed.
        arrays = [np.ones(n) for n in (50_000, 50_000, 50_000, 100_000, 100_000, 50_000)]
        del arrays
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50

faults_per_round()
default = faults_per_round()
assert keep_freed_memory()
faults_per_round()
kept = faults_per_round()
print(default, kept)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_search_arrays_are_reused_instead_of_faulted_in_afresh() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    default, kept = (float(x) for x in out.split())
    assert default > 200  # ~450 pages of 4 KB faulted in afresh each round, here
    assert kept < 10
