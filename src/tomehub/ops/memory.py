"""How glibc's allocator treats the large, short-lived arrays of a search.

A search at 100,000 chunks scores ~50,000 postings with numpy: a handful of arrays of 0.4-0.8 MB,
allocated and freed within a millisecond. glibc serves blocks above its mmap threshold with a
fresh mapping each and returns freed memory to the kernel, so every search faulted its arrays' pages
in afresh: BM25 scoring and the top-k took 2.3 ms per search, 0.8 ms with these thresholds
(docs/performance.md, stop 21).
Raising the thresholds keeps those blocks in the heap, where the next search reuses them, at the
cost of holding up to ``TRIM_THRESHOLD`` of freed memory per process.
"""

from __future__ import annotations

import ctypes
import logging
import sys

_log = logging.getLogger(__name__)

# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

# Blocks below this come from the heap: a search's arrays (0.4-0.8 MB each at 100,000 chunks; the
# per-chunk sums span the user's chunk ids, 8 MB at 1,000,000). glibc allows up to 32 MB.
MMAP_THRESHOLD = 8 * 1024 * 1024
# Free memory at the top of the heap goes back to the kernel only past this: a search's arrays,
# freed together, stay for the next one. It counts in the worker's RSS (the memory guard's 700 MB).
TRIM_THRESHOLD = 32 * 1024 * 1024
# Each time the heap grows, it grows by this much more than asked (fewer brk calls).
TOP_PAD = 4 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Sets the thresholds on glibc (Linux); returns False where there is no glibc mallopt
    (another libc, another OS), which changes nothing but speed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
        )
    )
    _log.debug("glibc malloc thresholds %s", "set" if ok else "not set")
    return ok
