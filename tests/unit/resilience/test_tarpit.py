"""Retry-After, enforced: a client that comes back before its Retry-After is held at the edge until it
has passed, then judged like any request; clients that wait as asked are never held."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import REGISTRY

from tomehub.ops.requests import RequestContextMiddleware
from tomehub.resilience.admission import Admission, AdmissionLimits, Priority
from tomehub.resilience.edge import EdgeLimits, EdgeMonitor, EdgeShedMiddleware
from tomehub.resilience.tarpit import Tarpit


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/smart-search", "headers": list(headers), "state": {}}


def test_a_client_is_held_for_the_rest_of_its_retry_after_and_no_longer() -> None:
    now = [100.0]
    tarpit = Tarpit(clock=lambda: now[0])
    alice = _scope((b"authorization", b"Bearer alice"))
    tarpit.refused(alice, 2.0)
    assert tarpit.hold_s(alice, 100.5, budget_s=6.0) == 1.5
    # Never past the client's own deadline, less the time to answer it.
    assert tarpit.hold_s(alice, 100.5, budget_s=1.0) == 0.5
    assert tarpit.hold_s(alice, 100.5, budget_s=0.3) == 0.0
    # Another credential, a session cookie, or none at all: not held.
    assert tarpit.hold_s(_scope((b"authorization", b"Bearer bob")), 100.5, budget_s=6.0) == 0.0
    assert tarpit.hold_s(_scope(), 100.5, budget_s=6.0) == 0.0
    tarpit.refused(_scope(), 2.0)  # nothing to remember it by
    cookie = _scope((b"cookie", b"tomehub_session=abc"))
    tarpit.refused(cookie, 1.0)
    assert tarpit.hold_s(cookie, 100.25, budget_s=6.0) == 0.75
    # Once the Retry-After has passed the client is served as anyone (and forgotten in time).
    assert tarpit.hold_s(alice, 102.0, budget_s=6.0) == 0.0
    now[0] = 111.0
    assert tarpit.hold_s(alice, 100.5, budget_s=6.0) == 0.0


def _held() -> float:
    return REGISTRY.get_sample_value("tomehub_held_seconds_count") or 0.0


async def test_the_edge_holds_a_client_back_early_then_judges_it_again() -> None:
    admission = Admission(AdmissionLimits(max_in_flight=1, max_queue=1))
    reached: list[float] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        reached.append(time.monotonic())
        await send({"type": "http.response.start", "status": 200, "headers": []})

    middleware = EdgeShedMiddleware(app, EdgeMonitor(EdgeLimits()), admission, deadline_s=6.0)  # type: ignore[arg-type]

    async def call(token: bytes) -> tuple[int, float]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        # The client's own deadline is 700 ms: a hold ends 500 ms before it, so at most 200 ms here.
        scope = _scope((b"authorization", b"Bearer " + token), (b"x-tomehub-deadline-ms", b"700"))
        began = time.monotonic()
        await middleware(scope, None, send)  # type: ignore[arg-type]
        return int(sent[0]["status"]), time.monotonic() - began

    now = time.monotonic()
    admission.core.offer(Priority.INTERACTIVE, now + 6, now)  # the one slot taken
    waiter = admission.core.offer(Priority.INTERACTIVE, now + 6, now)  # the one queue place taken
    assert waiter is not None
    held_before = _held()

    code, took = await call(b"storm")
    assert code == 503 and took < 0.1  # refused at once, told to come back in a second
    code, took = await call(b"storm")  # back at once: held, then refused again (still no room)
    assert code == 503 and took >= 0.19
    assert _held() == held_before + 1
    code, took = await call(b"patient")  # another client: refused at once, not held
    assert code == 503 and took < 0.1

    # Held again; meanwhile the queue place frees, so after its hold the request is let through.
    async def free_the_queue() -> None:
        await asyncio.sleep(0.05)
        admission.core.cancel(waiter)

    freeing = asyncio.create_task(free_the_queue())
    code, took = await call(b"storm")
    await freeing
    assert code == 200 and took >= 0.19 and len(reached) == 1


async def test_a_held_request_has_spent_its_hold_of_its_deadline_once() -> None:
    """Behind the edge the request's deadline counts from its arrival: the hold is spent, once,
    whether the client sent a relative deadline or an absolute one (which counts it by itself)."""
    admission = Admission(AdmissionLimits())
    left: list[float] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        left.append(scope["state"]["deadline"].remaining())
        await send({"type": "http.response.start", "status": 200, "headers": []})

    context = RequestContextMiddleware(app, deadline_s=6.0)  # type: ignore[arg-type]
    middleware = EdgeShedMiddleware(context, EdgeMonitor(EdgeLimits()), admission, deadline_s=6.0)

    async def send(message: dict[str, Any]) -> None:
        pass

    for absolute in (False, True):
        at = str(round((time.time() + 2) * 1000)).encode()
        deadline = (b"x-tomehub-deadline-at", at) if absolute else (b"x-tomehub-deadline-ms", b"2000")
        scope = _scope((b"authorization", b"Bearer storm"), deadline)
        admission.tarpit.refused(scope, 1.0)  # told a second ago... now: back at once
        await middleware(scope, None, send)  # type: ignore[arg-type]
        # Held 1 s (less 0.5 s of margin, the client's 2 s allowing 1.5 s), then 2 s - 1 s are left.
        assert 0.8 < left[-1] < 1.05, left
