"""Streams per worker: a hard cap on concurrent streams, refused with 503 beyond it (and while memory
is past its soft limit)."""

from __future__ import annotations

from tomehub.errors import Unavailable
from tomehub.metrics import STREAMS_DROPPED, STREAMS_OPEN


class TooManyStreams(Unavailable):
    code = "too_many_streams"


class StreamGate:
    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self.open = 0

    def enter(self, *, memory_pressure: bool = False) -> None:
        """Counts a new stream; raises TooManyStreams when none may open now."""
        if memory_pressure:
            raise TooManyStreams("The server is low on memory; retry the stream shortly.", retry_after_s=2.0)
        if self.open >= self.max_streams:
            raise TooManyStreams(
                f"This worker already serves {self.open} streams; retry shortly or ask without streaming.",
                retry_after_s=1.0,
            )
        self.open += 1
        STREAMS_OPEN.inc()

    def leave(self, *, dropped: bool = False) -> None:
        self.open -= 1
        STREAMS_OPEN.dec()
        if dropped:
            STREAMS_DROPPED.inc()
