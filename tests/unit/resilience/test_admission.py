"""Admission: bounded priority queue, deadlines dropped before work, fast refusal when full."""

from __future__ import annotations

import asyncio

import pytest

from tomehub.resilience.admission import Admission, AdmissionCore, AdmissionLimits, Priority, Shed
from tomehub.resilience.deadline import Deadline


def test_core_admits_queues_by_priority_and_sheds_when_full() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=4, background_queue_share=0.5))
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None  # admitted
    bg = core.offer(Priority.BACKGROUND, 100, now=0)
    first = core.offer(Priority.INTERACTIVE, 100, now=0)
    second = core.offer(Priority.INTERACTIVE, 100, now=0)
    with pytest.raises(Shed):
        core.offer(Priority.BACKGROUND, 100, now=0)  # background may fill only half the queue
    core.offer(Priority.INTERACTIVE, 100, now=0)
    with pytest.raises(Shed, match="capacity"):
        core.offer(Priority.INTERACTIVE, 100, now=0)
    assert core.shed == 2
    admitted, dropped = core.release(now=1)
    assert admitted is first and dropped == []  # interactive before the earlier background request
    admitted, _ = core.release(now=1)
    assert admitted is second
    assert bg is not None


def test_core_drops_waiters_whose_deadline_passed() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=10))
    core.offer(Priority.INTERACTIVE, 100, now=0)
    late = core.offer(Priority.INTERACTIVE, 5, now=0)
    on_time = core.offer(Priority.INTERACTIVE, 100, now=0)
    admitted, dropped = core.release(now=6)
    assert dropped == [late]
    assert admitted is on_time
    assert core.expired == 1
    with pytest.raises(Shed, match="deadline"):
        core.offer(Priority.INTERACTIVE, 5, now=6)


async def test_waiting_requests_run_in_turn_and_expired_ones_never_run() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10))
    ran: list[str] = []
    gate = asyncio.Event()

    async def request(name: str, deadline_s: float, hold: asyncio.Event | None = None) -> str:
        try:
            await admission.enter(Priority.INTERACTIVE, Deadline.after(deadline_s))
        except Shed:
            return f"{name}: shed"
        try:
            ran.append(name)
            if hold is not None:
                await hold.wait()
            return f"{name}: done"
        finally:
            admission.leave()

    first = asyncio.create_task(request("first", 5, gate))
    await asyncio.sleep(0.01)
    short = asyncio.create_task(request("short", 0.05))
    patient = asyncio.create_task(request("patient", 5))
    await asyncio.sleep(0.1)  # "short" passes its deadline while queued
    gate.set()
    results = await asyncio.gather(first, short, patient)
    assert results == ["first: done", "short: shed", "patient: done"]
    assert ran == ["first", "patient"]  # no work ever started for the expired request
    assert admission.core.in_flight == 0
