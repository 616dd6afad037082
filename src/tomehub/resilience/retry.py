"""Retries without amplification: tenacity for the loop, a retry budget and the deadline for the limits.

* Only idempotent calls are retried (embeddings, judge and expansion; a streamed generation is not).
* Jittered exponential backoff; a provider's Retry-After (429) is honoured when it is longer.
* Never past the request's deadline: a retry whose wait would not leave time for the attempt is not made.
* A retry budget: retries may be at most ``ratio`` of the calls in a sliding window (plus a small
  floor), so one failing provider cannot turn each call into three (the reference system's storm).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_random_exponential

from tomehub.resilience.deadline import Deadline

T = TypeVar("T")
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 2
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    # An attempt needs at least this much time left to be worth starting.
    min_attempt_s: float = 0.2


INTERACTIVE = RetryPolicy(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.3)
BACKGROUND = RetryPolicy(max_attempts=6, initial_backoff_s=0.5, max_backoff_s=30.0, min_attempt_s=1.0)


class RetryBudget:
    """Allows a retry only while retries stay under ``ratio`` of the calls of the last ``window_s``."""

    def __init__(
        self, *, ratio: float = 0.1, window_s: float = 10.0, min_retries: int = 3, clock: Clock = time.monotonic
    ):
        self.ratio = ratio
        self.window_s = window_s
        self.min_retries = min_retries
        self.clock = clock
        self._calls: deque[float] = deque()
        self._retries: deque[float] = deque()
        self.refused = 0

    def _trim(self, now: float) -> None:
        for q in (self._calls, self._retries):
            while q and q[0] <= now - self.window_s:
                q.popleft()

    def record_call(self) -> None:
        self._calls.append(self.clock())

    def try_spend(self) -> bool:
        """Returns True and counts a retry if the budget allows one now."""
        now = self.clock()
        self._trim(now)
        if len(self._retries) < self.min_retries + self.ratio * len(self._calls):
            self._retries.append(now)
            return True
        self.refused += 1
        return False

    @property
    def calls_in_window(self) -> int:
        self._trim(self.clock())
        return len(self._calls)

    @property
    def retries_in_window(self) -> int:
        self._trim(self.clock())
        return len(self._retries)


class _StopAtDeadline(stop_base):
    def __init__(self, deadline: Deadline | None, min_attempt_s: float) -> None:
        self.deadline = deadline
        self.min_attempt_s = min_attempt_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        return self.deadline.remaining() < retry_state.upcoming_sleep + self.min_attempt_s


class _StopWhenBudgetSpent(stop_base):
    # Evaluated last (stop_any short-circuits), so the budget is only spent on retries that happen.
    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.try_spend()


class _WaitRetryAfter(wait_base):
    """Jittered exponential backoff, or the provider's Retry-After when that is longer."""

    def __init__(self, policy: RetryPolicy, retry_after_of: Callable[[BaseException], float | None]) -> None:
        self.backoff = wait_random_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)
        self.retry_after_of = retry_after_of

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = float(self.backoff(retry_state))
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = self.retry_after_of(exc) if exc is not None else None
        return max(backoff, hinted or 0.0)


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    budget: RetryBudget,
    deadline: Deadline | None,
    retryable: Callable[[BaseException], bool],
    retry_after_of: Callable[[BaseException], float | None] = lambda exc: None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Runs ``fn``, retrying retryable failures within the policy, the budget and the deadline."""
    budget.record_call()

    def before_sleep(retry_state: RetryCallState) -> None:
        if on_retry is not None and retry_state.outcome is not None:
            exc = retry_state.outcome.exception()
            if exc is not None:
                on_retry(exc)

    retrying = AsyncRetrying(
        stop=stop_any(
            stop_after_attempt(policy.max_attempts),
            _StopAtDeadline(deadline, policy.min_attempt_s),
            _StopWhenBudgetSpent(budget),
        ),
        wait=_WaitRetryAfter(policy, retry_after_of),
        retry=retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    result: T = await retrying(fn)
    return result
