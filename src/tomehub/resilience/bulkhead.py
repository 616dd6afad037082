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
    """Counts slots in use; interactive callers may use every slot, background callers all but the reserve.

    Two FIFO semaphores: every call takes one of ``limit``; a background call first takes one of
    ``limit - reserved_interactive``. A freed slot wakes exactly one waiter and giving it back never
    waits. (A condition variable woken with notify_all did both wrong: at 1,000 users each release
    woke every waiter to re-take its lock one after another, and the releasing call queued behind
    them, up to 2.9 s; a waiter past its time waited for the lock too, docs/stress-results.md.)
    """

    def __init__(self, name: str, limits: BulkheadLimits) -> None:
        if not 0 <= limits.reserved_interactive < limits.limit:
            raise ValueError("the interactive reserve must be smaller than the limit")
        self.name = name
        self.limits = limits
        self.in_use = 0
        self.background_in_use = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(limits.limit)
        self._background_slots = asyncio.Semaphore(limits.limit - limits.reserved_interactive)

    @asynccontextmanager
    async def slot(self, *, interactive: bool, deadline: Deadline | None = None) -> AsyncIterator[None]:
        """Holds one slot for the duration of the block."""
        longest = self.limits.interactive_wait_s if interactive else self.limits.background_wait_s
        wait = longest if deadline is None else deadline.cap(longest)
        give_up_at = asyncio.get_running_loop().time() + wait  # one bound for both semaphores
        held: list[asyncio.Semaphore] = []
        try:
            for semaphore in (self._slots,) if interactive else (self._background_slots, self._slots):
                await self._take(semaphore, wait, give_up_at)
                held.append(semaphore)
            self.in_use += 1
            self.background_in_use += 0 if interactive else 1
        except BaseException:
            for semaphore in held:
                semaphore.release()
            raise
        try:
            yield
        finally:
            self.in_use -= 1
            self.background_in_use -= 0 if interactive else 1
            for semaphore in held:
                semaphore.release()

    async def _take(self, semaphore: asyncio.Semaphore, wait: float, give_up_at: float) -> None:
        if not semaphore.locked():
            await semaphore.acquire()  # free and nobody queued: returns at once
            return
        if self.waiting >= self.limits.max_waiting:
            raise BulkheadFull(f"Too many {self.name} calls are waiting; retry shortly.", retry_after_s=1.0)
        self.waiting += 1
        try:
            async with asyncio.timeout_at(give_up_at):
                await semaphore.acquire()
        except TimeoutError as exc:
            raise BulkheadFull(
                f"No {self.name} slot became free within {wait:.2f} s; retry shortly.", retry_after_s=1.0
            ) from exc
        finally:
            self.waiting -= 1
