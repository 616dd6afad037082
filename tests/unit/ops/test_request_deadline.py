"""The request's deadline: the server's budget, shortened by the client's relative or absolute one."""

from __future__ import annotations

import time

from tomehub.ops.requests import _requested_deadline


def _scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": list(headers)}


def test_the_earliest_of_the_servers_and_the_clients_deadlines_wins() -> None:
    assert _requested_deadline(_scope(), 6.0) == 6.0  # type: ignore[arg-type]
    assert _requested_deadline(_scope((b"x-tomehub-deadline-ms", b"2000")), 6.0) == 2.0  # type: ignore[arg-type]
    assert _requested_deadline(_scope((b"x-tomehub-deadline-ms", b"60000")), 6.0) == 6.0  # type: ignore[arg-type]
    soon = str(int((time.time() + 1.5) * 1000)).encode()
    both = _scope((b"x-tomehub-deadline-ms", b"4000"), (b"x-tomehub-deadline-at", soon))
    assert 1.3 < _requested_deadline(both, 6.0) <= 1.5  # type: ignore[arg-type]


def test_an_absolute_deadline_already_past_leaves_no_time() -> None:
    # The request waited in queues the server cannot see until its client gave up.
    past = str(int((time.time() - 2) * 1000)).encode()
    assert _requested_deadline(_scope((b"x-tomehub-deadline-at", past)), 6.0) == 0.0  # type: ignore[arg-type]
    assert _requested_deadline(_scope((b"x-tomehub-deadline-at", b"soon")), 6.0) == 6.0  # type: ignore[arg-type]
