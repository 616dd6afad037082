"""Admission: bounded priority queue, deadlines dropped before work, fast refusal when full."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time

import pytest

from tomehub.resilience.admission import (
    _TICKET,
    Admission,
    AdmissionCore,
    AdmissionLimits,
    Priority,
    Shed,
    Ticket,
    kind_of,
    overloaded,
)
from tomehub.resilience.deadline import Deadline
from tomehub.search.service import degradation_reason

# A queue that never counts as standing: tests of the predicted wait alone, over waits of seconds.
NEVER = 1e9


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


def test_core_refuses_at_once_what_the_queue_predicts_would_miss_its_deadline() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=2, max_queue=100, standing_after_s=NEVER, max_queue_wait_s=60))
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    # Nothing has left yet: no holding time is known, so nothing is predicted.
    assert core.offer(Priority.INTERACTIVE, 6, now=0) is not None
    core.release(now=1, held_s=1.0)  # the queued one takes the slot; a slot is held ~1 s
    assert core.hold_s == {"": 1.0}
    for _ in range(6):
        core.offer(Priority.INTERACTIVE, 100, now=1)
    # 6 waiters ahead on 2 slots of ~1 s: the next waits ~3.5 s and needs ~1 s more.
    assert core.predicted_wait(Priority.INTERACTIVE) == 3.5
    assert core.offer(Priority.INTERACTIVE, 1 + 4.6, now=1) is not None  # 3.5 + 1 s fits in 4.6 s
    with pytest.raises(Shed, match="would wait") as refused:
        core.offer(Priority.INTERACTIVE, 1 + 4.9, now=1)  # now 7 ahead: 4.0 s wait + 1 s > 4.9 s left
    assert refused.value.retry_after_s == pytest.approx(4.0)
    # Background waiters queue behind every interactive one; interactive ones do not count them.
    core.offer(Priority.BACKGROUND, 100, now=1)
    assert core.predicted_wait(Priority.INTERACTIVE) == 4.0
    assert core.predicted_wait(Priority.BACKGROUND) == 4.5


def test_core_refuses_a_wait_longer_than_the_queue_may_hold() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=2, max_queue=100, standing_after_s=NEVER, max_queue_wait_s=2.0))
    core.observe(1.0)  # a request holds slots ~1 s in all: 2 slots serve ~2 a second
    core.offer(Priority.INTERACTIVE, 100, now=0)
    core.offer(Priority.INTERACTIVE, 100, now=0)
    for _ in range(3):
        assert core.offer(Priority.INTERACTIVE, 100, now=0) is not None  # waits 0.5, 1.0, 1.5 s
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is not None  # 2.0 s: still within the bound
    with pytest.raises(Shed, match=r"wait about 2\.5 s") as refused:
        core.offer(Priority.INTERACTIVE, 100, now=0)  # 2.5 s: refused though its deadline is far
    assert refused.value.retry_after_s == 2.5
    assert core.queued == 4 and core.shed == 1


def test_core_prices_a_request_by_the_slot_time_of_its_own_kind() -> None:
    """Slow uploads before a burst of searches do not make the searches look slow: until the busy
    queue's drain rate is measured, a request's wait is priced with its own kind's slot time, and a
    kind never seen to end predicts nothing (it queues, bounded by the count and its deadline).
    (The queue here is never taken for a standing one, whose tighter bound has its own test.)"""
    core = AdmissionCore(AdmissionLimits(max_in_flight=2, max_queue=100, max_queue_wait_s=2.0, standing_after_s=NEVER))
    core.observe(8.0, "/api/add-item")  # an upload held its slot 8 s
    core.offer(Priority.INTERACTIVE, 100, now=0, kind="/api/smart-search")
    core.offer(Priority.INTERACTIVE, 100, now=0, kind="/api/smart-search")
    for _ in range(20):  # no search has ended yet: nothing is predicted, all of them queue
        assert core.offer(Priority.INTERACTIVE, 100, now=0, kind="/api/smart-search") is not None
    assert core.predicted_wait(Priority.INTERACTIVE, "/api/smart-search") is None
    # Priced as uploads, the 21st would have been refused: 21 x 8 s / 2 slots.
    assert core.predicted_wait(Priority.INTERACTIVE, "/api/add-item") == pytest.approx(84.0)
    core.release(now=0.1, held_s=0.1, kind="/api/smart-search")
    assert core.predicted_wait(Priority.INTERACTIVE, "/api/smart-search") == pytest.approx(20 * 0.1 / 2)
    assert core.offer(Priority.INTERACTIVE, 100, now=0.1, kind="/api/smart-search") is not None


def test_kinds_are_routes_not_ids_and_bounded() -> None:
    assert kind_of("/api/items/123/chunks") == kind_of("/api/items/456") == "/api/items"
    assert kind_of("/v1/chat/completions") == "/v1/chat"
    assert kind_of("/mcp") == "/mcp"
    core = AdmissionCore(AdmissionLimits())
    for n in range(200):
        core.observe(0.1, f"/api/x{n}")
    assert len(core.hold_s) <= 65 and "other" in core.hold_s
    assert core.predicted_wait(Priority.INTERACTIVE, "/api/x199") == pytest.approx(0.1 / 32)  # as "other"


def test_core_predicts_the_wait_from_how_fast_its_busy_queue_lets_new_requests_in() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=100, standing_after_s=NEVER, max_queue_wait_s=60))
    core.observe(0.1)  # each request holds the slot 0.1 s in all...
    core.offer(Priority.INTERACTIVE, 100, now=0)
    for _ in range(3):
        core.offer(Priority.INTERACTIVE, 100, now=0)
    assert core.predicted_wait(Priority.INTERACTIVE) == pytest.approx(0.4)  # ...so 4 x 0.1 s, at first
    # ...but the queue lets a new request in only every 0.5 s (a request comes back from its
    # provider call in between and takes the slot first; a freed slot waits for a busy loop).
    core.release(now=0.5)
    core.release(now=1.0)
    assert core.grant_interval_s == pytest.approx(0.5)
    core.offer(Priority.RESUMING, math.inf, now=1.0)  # already inside the measured interval
    assert core.predicted_wait(Priority.INTERACTIVE) == pytest.approx(1.0)  # 1 new one ahead + itself
    # An idle gap is not a drain interval: the queue emptied, the next grant starts afresh.
    core.release(now=1.5)  # the resuming request
    core.release(now=1.6)  # the last new waiter: the queue is empty now
    core.release(now=1.7)
    core.offer(Priority.INTERACTIVE, 100, now=9.0)
    core.offer(Priority.INTERACTIVE, 100, now=9.0)
    core.release(now=9.2)
    assert core.grant_interval_s == pytest.approx(0.9 * 0.5 + 0.1 * 0.6)  # 1.0 -> 1.6 counted; 9.2 not


def test_core_without_prediction_queues_until_the_deadline() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=100, shed_predicted_late=False))
    core.offer(Priority.INTERACTIVE, 100, now=0)
    core.offer(Priority.INTERACTIVE, 100, now=0)
    core.release(now=10, held_s=10.0)
    assert core.offer(Priority.INTERACTIVE, 11, now=10) is not None  # queued, though it cannot make it


def test_background_requests_hold_at_most_their_share_of_the_slots() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=4, max_queue=10, background_slot_share=0.5))
    assert core.offer(Priority.BACKGROUND, 100, now=0) is None
    assert core.offer(Priority.BACKGROUND, 100, now=0) is None
    third = core.offer(Priority.BACKGROUND, 100, now=0)
    assert third is not None  # two slots are free, but uploads already hold their half
    # Searches still start at once: the waiting upload is not ahead of them.
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    waiting_search = core.offer(Priority.INTERACTIVE, 100, now=0)
    assert waiting_search is not None  # all four slots taken
    # A search leaving frees a slot the held-back upload may not take; the waiting search gets it.
    admitted, _ = core.release(now=1, priority=Priority.INTERACTIVE)
    assert admitted is waiting_search
    # An upload leaving lets the next upload in.
    admitted, _ = core.release(now=1, priority=Priority.BACKGROUND)
    assert admitted is third
    assert (core.in_flight, core.background_in_flight) == (4, 2)


async def test_a_provider_wait_gives_the_slot_back_and_resumes_ahead_of_new_requests() -> None:
    from tomehub.resilience.admission import _TICKET, Ticket, io_wait

    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10))
    order: list[str] = []
    provider_answered = asyncio.Event()
    b_may_leave = asyncio.Event()

    async def asker() -> None:
        await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
        ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
        _TICKET.set(ticket)
        async with io_wait():  # the provider call: no slot held meanwhile
            order.append("a waits on the provider")
            await provider_answered.wait()
        order.append("a resumed")
        ticket.release()

    async def other(name: str, leave: asyncio.Event | None = None) -> None:
        await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
        order.append(f"{name} admitted")
        if leave is not None:
            await leave.wait()
        admission.leave(0.01)

    a = asyncio.create_task(asker())
    await asyncio.sleep(0.01)
    b = asyncio.create_task(other("b", b_may_leave))  # takes the slot a gave back
    await asyncio.sleep(0.01)
    assert order == ["a waits on the provider", "b admitted"]
    provider_answered.set()
    await asyncio.sleep(0.01)
    c = asyncio.create_task(other("c"))  # arrives after a came back: waits behind it
    await asyncio.sleep(0.01)
    b_may_leave.set()
    await asyncio.gather(a, b, c)
    assert order == ["a waits on the provider", "b admitted", "a resumed", "c admitted"]
    assert admission.core.in_flight == 0 and admission.core.io_waiting == 0


async def test_a_request_is_learned_once_with_the_slot_time_of_all_its_holdings() -> None:
    """A search holds a slot before its provider call and again after it: the queue's prediction
    must learn the two together (one request's cost), not each as a request of half the cost."""
    from tomehub.resilience.admission import Ticket

    now = [0.0]
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10), clock=lambda: now[0])
    await admission.enter(Priority.INTERACTIVE, None)
    ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
    now[0] = 0.3
    ticket.release()  # off to the provider after 0.3 s of work
    assert admission.core.hold_s == {}  # nothing learned yet: the request is not over
    now[0] = 1.5
    await ticket.resume()
    now[0] = 1.7
    ticket.close()  # 0.2 s more after the provider answered
    assert admission.core.hold_s == {"": pytest.approx(0.5)}  # 0.3 + 0.2, not the 1.2 s provider wait
    assert admission.core.in_flight == 0
    ticket.close()  # closing twice learns nothing twice
    assert admission.core.hold_s == {"": pytest.approx(0.5)}


async def test_without_a_request_or_past_the_cap_a_provider_wait_keeps_its_slot() -> None:
    from tomehub.resilience.admission import _TICKET, Ticket, io_wait

    async with io_wait():  # outside any request: nothing to give back
        pass
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10, max_io_waits=0))
    await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
    ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
    _TICKET.set(ticket)
    async with io_wait():
        assert ticket.holding and admission.core.in_flight == 1
    ticket.release()
    assert admission.core.in_flight == 0


async def test_a_provider_wait_that_ends_after_its_request_takes_no_slot() -> None:
    """A writer's stream finalised after the response has gone (its consumer left it unclosed) ends
    its provider wait late: it must not take a slot back that nobody would give back."""
    from tomehub.resilience.admission import _TICKET, Ticket, io_wait

    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10))
    await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
    ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
    _TICKET.set(ticket)
    async with io_wait():
        assert admission.core.in_flight == 0
        ticket.close()  # the request ends (the middleware's finally) while the wait is still open
    assert admission.core.in_flight == 0
    # ...and one that ends while the late wait queues for its slot gives the slot back at once.
    other = Ticket(admission, Priority.INTERACTIVE, admission.clock())
    await admission.enter(Priority.INTERACTIVE, Deadline.after(10))  # someone else holds the one slot
    other.holding = False
    resuming = asyncio.create_task(other.resume())
    await asyncio.sleep(0.01)
    other.close()
    admission.leave(0.01)  # the slot frees: the closed ticket is admitted and leaves at once
    await resuming
    assert admission.core.in_flight == 0 and not other.holding


def test_core_refuses_every_request_that_would_join_a_standing_queue() -> None:
    limits = AdmissionLimits(
        max_in_flight=1, max_queue=10, shed_predicted_late=True, standing_after_s=0.1, standing_queue_wait_s=0.05
    )
    core = AdmissionCore(limits)
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    first = core.offer(Priority.INTERACTIVE, 100, now=0)
    assert first is not None  # a burst may wait
    assert not core.standing(1.0)  # no request has ended: nothing is known, nothing stands
    core.observe(0.02)  # requests hold their slot 20 ms
    core.observe(0.4, "/api/slow")  # but these 0.4 s: waits that long are no overload for them
    # Nobody let in while the oldest waited the interval and the bound again: the queue stands.
    assert not core.standing(0.1) and core.standing(0.16)
    assert not core.standing(0.16, "/api/slow")
    assert core.wait_bound(0.16) == 0.0 and core.wait_bound(0.16, "/api/slow") == 2.0
    with pytest.raises(Shed, match="would wait"):
        core.offer(Priority.INTERACTIVE, 100, now=0.16)  # refused on arrival, however short its wait
    # The one already waiting is not refused for its wait: it gets the next slot.
    assert core.release(now=0.3)[0] is first
    assert not core.standing(0.3)  # the queue is empty again

    # Or every request let in for the interval had waited past the bound (CoDel's test; waits
    # predicted for what they are, so that the queue is not refused on arrival as it forms).
    core = AdmissionCore(dataclasses.replace(limits, shed_predicted_late=False))
    core.observe(0.02)
    assert core.offer(Priority.INTERACTIVE, 100, now=1.0) is None
    w1, w2 = (core.offer(Priority.INTERACTIVE, 100, now=1.0) for _ in range(2))
    assert core.release(now=1.2)[0] is w1  # waited 0.2 s
    w3 = core.offer(Priority.INTERACTIVE, 100, now=1.28)
    assert core.release(now=1.3)[0] is w2  # waited 0.3 s: over the bound since 1.2
    assert core.standing(1.31)
    assert core.release(now=1.32)[0] is w3  # a short wait: the queue drains in time
    assert not core.standing(1.32)
    # A queue of short waits never stands, however long it stays busy.
    for step in range(20):
        t = 2.0 + step * 0.02
        assert core.offer(Priority.INTERACTIVE, 100, now=t) is not None
        if step:
            core.release(now=t)
        assert not core.standing(t)


def test_core_refuses_a_short_predicted_wait_only_while_the_queue_stands() -> None:
    # In a burst the drain rate is the burst's: a wait predicted within max_queue_wait_s queues.
    core = AdmissionCore(
        AdmissionLimits(max_in_flight=1, max_queue=10, standing_after_s=0.5, standing_queue_wait_s=0.05)
    )
    core.observe(0.1)
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is not None  # predicted 0.1 s: it queues
    with pytest.raises(Shed, match="would wait"):
        core.offer(Priority.INTERACTIVE, 100, now=0.6)  # standing: 0.2 s predicted > 0.05 s


def test_a_request_the_edge_let_in_is_not_weighed_again_only_a_full_queue_refuses_it() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=2, standing_after_s=NEVER, max_queue_wait_s=1.0))
    core.observe(2.0)  # a request holds its slot 2 s: any wait here is predicted past the 1 s bound
    assert core.offer(Priority.INTERACTIVE, 100, now=0) is None
    with pytest.raises(Shed, match="would wait"):
        core.offer(Priority.INTERACTIVE, 100, now=0)
    # Judged at the edge a moment ago (auth and a rate-limit check since): it waits.
    assert core.offer(Priority.INTERACTIVE, 100, now=0, judged=True) is not None
    assert core.offer(Priority.INTERACTIVE, 100, now=0, judged=True) is not None
    with pytest.raises(Shed, match="capacity"):
        core.offer(Priority.INTERACTIVE, 100, now=0, judged=True)  # the backstop still holds


def test_refused_clients_are_asked_back_after_as_long_as_the_overload_has_lasted() -> None:
    core = AdmissionCore(AdmissionLimits(max_in_flight=1, max_queue=1))
    assert core.retry_after(0.0) == 1.0
    core.offer(Priority.INTERACTIVE, 100, now=0)
    core.offer(Priority.INTERACTIVE, 100, now=0)
    for now in (0.0, 0.8, 1.6, 2.4, 3.2):  # refusals less than a second apart: one overload
        with pytest.raises(Shed) as refused:
            core.offer(Priority.INTERACTIVE, 100, now=now)
    assert refused.value.retry_after_s == pytest.approx(3.2)  # refused since 0 s: come back in 3.2 s
    assert core.retry_after(30.0) == 1.0  # no refusal for a while: that overload is over
    for now in (40.0, 40.5):
        with pytest.raises(Shed):
            core.offer(Priority.INTERACTIVE, 100, now=now)
    assert core.retry_after(40.5) == 1.0  # a new one, half a second old
    core.count_shed(52.0)
    for second in range(53, 70):
        core.count_shed(float(second))
    assert core.retry_after(69.0) == 10.0  # never longer than 10 s


async def test_a_standing_queue_refuses_newcomers_at_once_and_serves_the_requests_it_holds() -> None:
    """A refusal after a wait costs the client the wait and the answer both: a request is refused on
    arrival or kept until its slot comes (or its deadline leaves no time), never refused for waiting."""
    admission = Admission(
        AdmissionLimits(max_in_flight=1, max_queue=10, standing_after_s=0.1, standing_queue_wait_s=0.05)
    )
    admission.core.observe(0.02)  # a request holds its slot ~20 ms
    await admission.enter(Priority.INTERACTIVE, Deadline.after(5))  # and this one keeps it
    first = asyncio.create_task(admission.enter(Priority.INTERACTIVE, Deadline.after(5)))
    await asyncio.sleep(0.2)  # nobody let in for 0.2 s: the queue stands
    started = time.monotonic()
    with pytest.raises(Shed, match="would wait"):
        await admission.enter(Priority.INTERACTIVE, Deadline.after(5))
    assert time.monotonic() - started < 0.01  # refused at once, not after a wait
    await asyncio.sleep(0.1)
    assert not first.done()  # waited 0.3 s in a standing queue, and still waits for its slot
    admission.leave()
    await asyncio.wait_for(first, 0.1)  # admitted as the slot frees
    assert (admission.core.shed, admission.core.expired) == (1, 0)
    admission.leave()
    assert admission.core.in_flight == 0


def test_a_request_knows_when_its_worker_is_overloaded() -> None:
    # What a search asks before its provider call (a brownout: keywords instead of a refusal).
    now = [0.0]
    admission = Admission(
        AdmissionLimits(max_in_flight=1, max_queue=10, standing_after_s=0.1, standing_queue_wait_s=0.05),
        clock=lambda: now[0],
    )
    assert not overloaded()  # outside a request
    admission.core.observe(0.02, "/api/smart-search")
    admission.core.offer(Priority.INTERACTIVE, 100, now=0, kind="/api/smart-search")  # the slot
    admission.core.offer(Priority.INTERACTIVE, 100, now=0, kind="/api/smart-search")  # waits
    token = _TICKET.set(Ticket(admission, Priority.INTERACTIVE, 0.0, kind="/api/smart-search"))
    try:
        assert not overloaded()  # a wait of 0 s is no overload
        now[0] = 0.2  # nobody let in for 0.2 s
        assert overloaded()
    finally:
        _TICKET.reset(token)
    assert degradation_reason(Shed("overloaded")) == "busy"


async def test_requests_waiting_for_a_coalesced_search_hold_no_slot_so_its_leader_can_finish() -> None:
    """The leader of a coalesced search gives its slot back for its provider call; a request that
    then takes the slot and joins the flight must not keep it while it waits, or the leader never
    gets a slot to finish in and neither request ever ends (seen: 16 concurrent searches of four
    queries on 8 slots hung until their clients gave up)."""
    from tomehub.resilience.admission import _TICKET, Ticket, io_wait
    from tomehub.store.cache import Cache

    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10))
    cache = Cache(max_bytes=1_000_000, ttl_s=60)
    provider_answered = asyncio.Event()
    calls = 0

    async def search() -> str:
        nonlocal calls
        calls += 1
        async with io_wait():  # the query embedding: a provider call
            await provider_answered.wait()
        return "hits"

    async def request() -> str:
        await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
        ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
        _TICKET.set(ticket)
        try:
            return await cache.single_flight("search:q", search)
        finally:
            ticket.close()

    leader = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    follower = asyncio.create_task(request())  # takes the slot the leader gave back, joins its flight
    await asyncio.sleep(0.01)
    assert admission.core.in_flight == 0  # the follower waits without a slot
    provider_answered.set()
    results = await asyncio.wait_for(asyncio.gather(leader, follower), timeout=5)
    assert results == ["hits", "hits"] and calls == 1
    assert admission.core.in_flight == 0 and admission.core.io_waiting == 0


async def test_a_wait_for_another_request_is_never_capped() -> None:
    """Past max_io_waits a provider call keeps its slot; a wait for another request's work does not
    (it costs nothing, and holding a slot for it is what deadlocks)."""
    from tomehub.resilience.admission import _TICKET, Ticket, io_wait

    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=10, max_io_waits=0))
    await admission.enter(Priority.INTERACTIVE, Deadline.after(10))
    ticket = Ticket(admission, Priority.INTERACTIVE, admission.clock())
    _TICKET.set(ticket)
    async with io_wait(capped=False):
        assert not ticket.holding and admission.core.in_flight == 0
        assert admission.core.io_waiting == 0  # not a provider call: it takes none of the cap
    assert ticket.holding and admission.core.in_flight == 1
    ticket.close()
