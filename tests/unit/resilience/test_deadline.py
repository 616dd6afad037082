"""Deadlines with an injected clock: no sleeping."""

from __future__ import annotations

import pytest

from tomehub.errors import DeadlineExceeded
from tomehub.resilience.deadline import Deadline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deadline_counts_down_and_caps_timeouts() -> None:
    clock = Clock()
    deadline = Deadline.after(6.0, clock)
    assert deadline.remaining() == 6.0
    assert deadline.cap(2.0) == 2.0
    clock.now += 5.0
    assert deadline.cap(2.0) == pytest.approx(1.0)
    deadline.check()
    clock.now += 1.0
    assert deadline.expired
    assert deadline.remaining() == 0.0
    with pytest.raises(DeadlineExceeded, match="search"):
        deadline.check("the search")
