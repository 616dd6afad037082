"""The breaker's state machine with an injected clock: no sleeping, every transition checked."""

from __future__ import annotations

import pytest

from tomehub.resilience.breaker import (
    STATE_VALUES,
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    MemoryStore,
    Outcome,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    window_s=10, bucket_s=1, min_calls=5, failure_rate=0.5, open_s=3, half_open_probes=1, probes_to_close=2
)


def breaker(clock: Clock, store: MemoryStore | None = None) -> CircuitBreaker:
    return CircuitBreaker("search-embedding", POLICY, store or MemoryStore(), clock=clock)


async def run(b: CircuitBreaker, outcome: Outcome) -> None:
    admission = await b.admit()
    await b.record(admission, outcome)


async def test_opens_on_rate_only_after_minimum_volume() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        await run(b, Outcome.FAILURE)
    assert (await b.status()).state is BreakerState.CLOSED  # 4 < min_calls
    await run(b, Outcome.FAILURE)
    status = await b.status()
    assert status.state is BreakerState.OPEN
    assert status.opened_at == clock.now
    assert status.next_probe_at == clock.now + 3


async def test_a_low_failure_rate_never_opens() -> None:
    clock = Clock()
    b = breaker(clock)
    for n in range(40):
        await run(b, Outcome.FAILURE if n % 3 == 0 else Outcome.SUCCESS)  # 34 % failures
        clock.now += 0.1
    assert (await b.status()).state is BreakerState.CLOSED


async def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(4):
        await run(b, Outcome.FAILURE)
    clock.now += 11  # past the window
    for _ in range(4):
        await run(b, Outcome.SUCCESS)
    await run(b, Outcome.FAILURE)
    status = await b.status()
    assert status.state is BreakerState.CLOSED
    assert status.calls == 5 and status.failures == 1


async def test_ignored_outcomes_do_not_count() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(10):
        await run(b, Outcome.IGNORED)
    assert (await b.status()).calls == 0


async def test_open_refuses_fast_then_half_open_probes_then_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(5):
        await run(b, Outcome.FAILURE)
    with pytest.raises(BreakerOpen) as refused:
        await b.admit()
    assert refused.value.retry_after_s == pytest.approx(3.0)
    clock.now += 3
    probe = await b.admit()
    assert probe.probe
    assert (await b.status()).state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):  # one probe at a time
        await b.admit()
    await b.record(probe, Outcome.SUCCESS)
    second = await b.admit()
    await b.record(second, Outcome.SUCCESS)
    status = await b.status()
    assert status.state is BreakerState.CLOSED
    assert status.calls == 0  # a closed breaker starts with a clean window


async def test_failed_probe_reopens() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(5):
        await run(b, Outcome.FAILURE)
    clock.now += 3
    probe = await b.admit()
    await b.record(probe, Outcome.FAILURE)
    status = await b.status()
    assert status.state is BreakerState.OPEN
    assert status.opened_at == clock.now


async def test_ignored_probe_frees_its_slot() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(5):
        await run(b, Outcome.FAILURE)
    clock.now += 3
    probe = await b.admit()
    await b.record(probe, Outcome.IGNORED)
    assert (await b.admit()).probe


async def test_breakers_on_one_store_are_independent() -> None:
    clock = Clock()
    store = MemoryStore()
    search = CircuitBreaker("search-embedding", POLICY, store, clock=clock)
    ingest = CircuitBreaker("ingest-embedding", POLICY, store, clock=clock)
    for _ in range(5):
        await run(ingest, Outcome.FAILURE)
    assert (await ingest.status()).state is BreakerState.OPEN
    assert (await search.status()).state is BreakerState.CLOSED


def test_gauge_values_cover_every_state() -> None:
    assert set(STATE_VALUES) == set(BreakerState)
    assert STATE_VALUES[BreakerState.OPEN] == 2
    assert STATE_VALUES[BreakerState("half_open")] == 1


async def test_an_outage_is_logged_once_when_it_opens_and_once_when_it_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    b = breaker(clock)
    with caplog.at_level("WARNING", logger="tomehub.resilience.breaker"):
        for _ in range(5):
            await run(b, Outcome.FAILURE)
        for _ in range(20):  # every refused call during the outage: no line each
            with pytest.raises(BreakerOpen):
                await b.admit()
        clock.now += 3
        for _ in range(2):
            await run(b, Outcome.SUCCESS)
    assert (await b.status()).state is BreakerState.CLOSED
    assert [r.getMessage() for r in caplog.records] == [
        "search-embedding breaker opened: the provider is failing; calls pause",
        "search-embedding breaker closed: the provider answers again",
    ]


class CountingStore(MemoryStore):
    """A store shared by several workers' breakers that counts its transactions (Redis's role)."""

    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    async def update(self, name, change):  # type: ignore[no-untyped-def]
        self.updates += 1
        return await super().update(name, change)


async def test_over_a_shared_store_successes_go_in_batches_and_the_seen_state_decides() -> None:
    clock, store = Clock(), CountingStore()
    worker = CircuitBreaker("search-embedding", POLICY, store, clock=clock, sync_s=0.5)
    await run(worker, Outcome.SUCCESS)  # nothing seen yet: the store decides, and sees it closed
    assert store.updates == 1
    for _ in range(4):
        clock.now += 0.1
        await run(worker, Outcome.SUCCESS)  # closed, seen within 0.5 s: no transaction at all
    assert store.updates == 1
    assert (await worker.status()).calls == 0  # five successes, none sent yet
    clock.now += 0.45
    await run(worker, Outcome.SUCCESS)  # the batch is due: one transaction carries all six
    assert store.updates == 2
    assert (await worker.status()).calls == 6
    await run(worker, Outcome.FAILURE)  # a failure goes at once
    assert store.updates == 3
    assert (await worker.status()).failures == 1


async def test_over_a_shared_store_a_breaker_opened_by_one_worker_refuses_in_the_other_within_the_sync() -> None:
    clock, store = Clock(), CountingStore()
    a, b = (CircuitBreaker("search-embedding", POLICY, store, clock=clock, sync_s=0.5) for _ in range(2))
    await run(b, Outcome.SUCCESS)  # b has seen the breaker closed
    for _ in range(5):
        await run(a, Outcome.FAILURE)  # failures go at once: a opens it
    assert (await a.status()).state is BreakerState.OPEN
    await b.admit()  # b decides on what it saw less than 0.5 s ago: still closed
    clock.now += 0.5
    with pytest.raises(BreakerOpen):
        await b.admit()  # its view is due: it asks the store and sees it open
    updates = store.updates
    clock.now += 0.1
    with pytest.raises(BreakerOpen):
        await b.admit()  # open and its reopen time ahead: refused without asking
    assert store.updates == updates
    clock.now += POLICY.open_s
    await b.admit()  # past the reopen time the store decides: b's call is a half-open probe
    assert store.updates == updates + 1
