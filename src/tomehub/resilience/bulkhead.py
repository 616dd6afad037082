"""Bulkheads: a concurrency limit per provider, with a share reserved for interactive calls.

Background work (ingestion embeddings, re-embedding) may use at most ``limit - reserved`` slots, so a
batch of 10,000 documents can never take the slots a search needs. Waiting is bounded twice: by the
caller's deadline (and a per-kind longest wait: interactive calls degrade quickly, background work
waits patiently) and by the number of waiters (``max_waiting``); past either,
the call is refused at once with 503 instead of queueing without end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tomehub.errors import Unavailable
from tomehub.resilience.deadline import Deadline


class BulkheadFull(Unavailable):
    """No slot became free in time (or too many callers already wait)."""

    code = "bulkhead_full"


@dataclass(frozen=True)
class BulkheadLimits:
    limit: int = 8
    reserved_interactive: int = 3
    max_waiting: int = 64
    interactive_wait_s: float = 0.5
    background_wait_s: float = 30.0


class Bulkhead:
    """Counts slots in use; interactive callers may use every slot, background callers all but the reserve."""

    def __init__(self, name: str, limits: BulkheadLimits) -> None:
        if not 0 <= limits.reserved_interactive < limits.limit:
            raise ValueError("the interactive reserve must be smaller than the limit")
        self.name = name
        self.limits = limits
        self.in_use = 0
        self.background_in_use = 0
        self.waiting = 0
        self._changed = asyncio.Condition()

    def _free_for(self, interactive: bool) -> bool:
        if self.in_use >= self.limits.limit:
            return False
        return interactive or self.background_in_use < self.limits.limit - self.limits.reserved_interactive

    @asynccontextmanager
    async def slot(self, *, interactive: bool, deadline: Deadline | None = None) -> AsyncIterator[None]:
        """Holds one slot for the duration of the block."""
        async with self._changed:
            if not self._free_for(interactive):
                if self.waiting >= self.limits.max_waiting:
                    raise BulkheadFull(f"Too many {self.name} calls are waiting; retry shortly.", retry_after_s=1.0)
                longest = self.limits.interactive_wait_s if interactive else self.limits.background_wait_s
                wait = longest if deadline is None else deadline.cap(longest)
                self.waiting += 1
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: self._free_for(interactive)), wait)
                except TimeoutError as exc:
                    raise BulkheadFull(
                        f"No {self.name} slot became free within {wait:.2f} s; retry shortly.", retry_after_s=1.0
                    ) from exc
                finally:
                    self.waiting -= 1
            self.in_use += 1
            if not interactive:
                self.background_in_use += 1
        try:
            yield
        finally:
            async with self._changed:
                self.in_use -= 1
                if not interactive:
                    self.background_in_use -= 1
                self._changed.notify_all()
