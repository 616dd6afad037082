"""Bulkheads: background work never takes the interactive reserve; waiting is bounded."""

from __future__ import annotations

import asyncio

import pytest

from tomehub.resilience.bulkhead import Bulkhead, BulkheadFull, BulkheadLimits
from tomehub.resilience.deadline import Deadline


async def test_background_cannot_take_the_interactive_reserve() -> None:
    b = Bulkhead(
        "p",
        BulkheadLimits(
            limit=4, reserved_interactive=2, max_waiting=10, interactive_wait_s=0.05, background_wait_s=0.05
        ),
    )
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(interactive: bool) -> None:
        async with b.slot(interactive=interactive):
            held.set()
            await release.wait()

    tasks = [asyncio.create_task(hold(False)) for _ in range(2)]
    await asyncio.sleep(0.01)
    assert b.background_in_use == 2
    with pytest.raises(BulkheadFull):
        async with b.slot(interactive=False):
            pass
    # Interactive calls still get the two reserved slots.
    async with b.slot(interactive=True), b.slot(interactive=True):
        assert b.in_use == 4
    release.set()
    await asyncio.gather(*tasks)
    assert b.in_use == 0


async def test_waiters_are_served_when_a_slot_frees() -> None:
    b = Bulkhead("p", BulkheadLimits(limit=1, reserved_interactive=0, max_waiting=10, interactive_wait_s=1.0))
    order: list[str] = []

    async def use(name: str, hold_s: float) -> None:
        async with b.slot(interactive=True):
            order.append(name)
            await asyncio.sleep(hold_s)

    await asyncio.gather(use("a", 0.05), use("b", 0.0))
    assert order == ["a", "b"]


async def test_bounded_queue_and_deadline() -> None:
    b = Bulkhead("p", BulkheadLimits(limit=1, reserved_interactive=0, max_waiting=1, interactive_wait_s=5.0))
    gate = asyncio.Event()

    async def hold() -> None:
        async with b.slot(interactive=True):
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(_acquire(b, Deadline.after(5)))
    await asyncio.sleep(0.01)
    with pytest.raises(BulkheadFull, match="waiting"):
        await _acquire(b, Deadline.after(5))  # the one waiting place is taken
    gate.set()
    await asyncio.gather(holder, waiter)
    gate.clear()
    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(BulkheadFull, match="within"):
        await _acquire(b, Deadline.after(0.1))
    assert loop.time() - started < 0.5  # the deadline, not the longest wait, bounded it
    gate.set()
    await holder


async def _acquire(b: Bulkhead, deadline: Deadline) -> None:
    async with b.slot(interactive=True, deadline=deadline):
        pass


def test_reserve_must_leave_room() -> None:
    with pytest.raises(ValueError, match="reserve"):
        Bulkhead("p", BulkheadLimits(limit=2, reserved_interactive=2))


async def test_giving_a_slot_back_never_waits_behind_the_waiters() -> None:
    # With a condition variable, a release woke every waiter to re-take its lock, and the next
    # release queued behind all of them (2.9 s at 1,000 users). Here leaving a slot takes one turn of
    # the loop, however many waiters the previous release woke.
    b = Bulkhead("p", BulkheadLimits(limit=2, reserved_interactive=0, max_waiting=200, interactive_wait_s=1.0))
    first, second = b.slot(interactive=True), b.slot(interactive=True)
    await first.__aenter__()
    await second.__aenter__()
    waiters = [asyncio.create_task(_acquire(b, Deadline.after(1))) for _ in range(100)]
    await asyncio.sleep(0.01)
    assert b.waiting == 100
    try:
        for slot in (first, second):
            leaving = asyncio.create_task(slot.__aexit__(None, None, None))
            await asyncio.sleep(0)  # one turn: the release runs, beside the waiters woken before
            assert leaving.done()
        await asyncio.gather(*waiters)
        assert (b.in_use, b.waiting) == (0, 0)
    finally:
        await asyncio.wait(waiters, timeout=5)


async def test_a_background_call_gives_back_its_share_when_no_slot_frees() -> None:
    b = Bulkhead("p", BulkheadLimits(limit=2, reserved_interactive=1, max_waiting=10, background_wait_s=0.05))
    async with b.slot(interactive=True), b.slot(interactive=True):
        with pytest.raises(BulkheadFull):
            async with b.slot(interactive=False):
                pass
        assert b.background_in_use == 0
    # The background share it took while waiting was given back: a background call gets a slot.
    async with b.slot(interactive=False):
        assert (b.in_use, b.background_in_use) == (1, 1)
