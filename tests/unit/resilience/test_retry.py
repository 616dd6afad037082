"""Retries: only retryable failures, never past the deadline, never beyond the budget."""

from __future__ import annotations

import pytest

from tomehub.llm.base import ProviderRateLimited, ProviderRejected, ProviderServerError
from tomehub.resilience.deadline import Deadline
from tomehub.resilience.retry import RetryBudget, RetryPolicy, call_with_retries

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002, min_attempt_s=0.0)


class Flaky:
    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return "ok"


def retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


async def test_retries_retryable_failures_up_to_the_policy() -> None:
    fn = Flaky(2, ProviderServerError("500"))
    assert await call_with_retries(fn, policy=FAST, budget=RetryBudget(), deadline=None, retryable=retryable) == "ok"
    assert fn.calls == 3
    fn = Flaky(5, ProviderServerError("500"))
    with pytest.raises(ProviderServerError):
        await call_with_retries(fn, policy=FAST, budget=RetryBudget(), deadline=None, retryable=retryable)
    assert fn.calls == 3


async def test_never_retries_a_rejected_request() -> None:
    fn = Flaky(1, ProviderRejected("400"))
    with pytest.raises(ProviderRejected):
        await call_with_retries(fn, policy=FAST, budget=RetryBudget(), deadline=None, retryable=retryable)
    assert fn.calls == 1


async def test_no_retry_that_the_deadline_cannot_fit() -> None:
    fn = Flaky(1, ProviderRateLimited("429", retry_after_s=5.0))
    with pytest.raises(ProviderRateLimited):
        await call_with_retries(
            fn,
            policy=FAST,
            budget=RetryBudget(),
            deadline=Deadline.after(1.0),
            retryable=retryable,
            retry_after_of=lambda exc: getattr(exc, "retry_after_s", None),
        )
    assert fn.calls == 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_a_share_of_calls_plus_a_floor() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.1, window_s=10, min_retries=2, clock=clock)
    for _ in range(100):
        budget.record_call()
    granted = sum(budget.try_spend() for _ in range(50))
    assert granted == 12  # 2 + 10 % of 100
    assert budget.refused == 38
    clock.now += 11  # the window moves on: calls and retries expire together
    assert budget.try_spend()
    assert budget.retries_in_window == 1


async def test_budget_stops_retries_under_a_storm() -> None:
    budget = RetryBudget(ratio=0.1, window_s=60, min_retries=0)
    calls = 0
    for _ in range(100):
        fn = Flaky(10, ProviderServerError("500"))
        with pytest.raises(ProviderServerError):
            await call_with_retries(fn, policy=FAST, budget=budget, deadline=None, retryable=retryable)
        calls += fn.calls
    assert calls <= 110  # one failure never becomes three
