"""The request's deadline: the server's budget, shortened by the client's relative or absolute one."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import REGISTRY
from starlette.types import Message, Receive, Scope, Send

from tomehub.ops.requests import RequestContextMiddleware
from tomehub.resilience.deadline import requested_deadline


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": list(headers)}


def test_the_earliest_of_the_servers_and_the_clients_deadlines_wins() -> None:
    assert requested_deadline(_scope(), 6.0) == 6.0  # type: ignore[arg-type]
    assert requested_deadline(_scope((b"x-tomehub-deadline-ms", b"2000")), 6.0) == 2.0  # type: ignore[arg-type]
    assert requested_deadline(_scope((b"x-tomehub-deadline-ms", b"60000")), 6.0) == 6.0  # type: ignore[arg-type]
    soon = str(int((time.time() + 1.5) * 1000)).encode()
    both = _scope((b"x-tomehub-deadline-ms", b"4000"), (b"x-tomehub-deadline-at", soon))
    assert 1.3 < requested_deadline(both, 6.0) <= 1.5  # type: ignore[arg-type]


def test_an_absolute_deadline_already_past_says_how_late_the_request_arrived() -> None:
    # The request waited in queues the server cannot see until its client gave up: the budget is
    # negative (by how much it was late), which the middleware counts and clamps to no time at all.
    past = str(int((time.time() - 2) * 1000)).encode()
    assert -2.5 < requested_deadline(_scope((b"x-tomehub-deadline-at", past)), 6.0) <= -1.9  # type: ignore[arg-type]
    assert requested_deadline(_scope((b"x-tomehub-deadline-at", b"soon")), 6.0) == 6.0  # type: ignore[arg-type]


async def test_the_middleware_counts_requests_that_arrive_or_are_answered_past_their_deadline() -> None:
    # Where a client's timeout was lost: before the server saw the request, or while it worked on it.
    def late(moment: str) -> float:
        labels = {"moment": moment, "le": "0.0"}
        return REGISTRY.get_sample_value("tomehub_deadline_left_seconds_bucket", labels) or 0.0

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.15)  # longer than the 0.1 s its client gave it
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        return None

    app = RequestContextMiddleware(slow_app, deadline_s=6.0)
    before = late("arrival"), late("answer")
    in_time = str(int((time.time() + 0.1) * 1000)).encode()
    gone = str(int((time.time() - 1) * 1000)).encode()
    for at in (in_time, gone):
        scope = {"type": "http", "method": "GET", "path": "/api/x", "headers": [(b"x-tomehub-deadline-at", at)]}
        await app(scope, receive, send)
    assert late("arrival") - before[0] == 1  # the second came after its client had given up
    assert late("answer") - before[1] == 2  # both answers started after their deadlines
