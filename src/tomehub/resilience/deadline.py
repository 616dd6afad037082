"""Deadlines: every request carries one, and each downstream call gets only the time left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tomehub.errors import DeadlineExceeded

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deadline:
    """An absolute point in time (on ``clock``) after which no new work starts."""

    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic) -> Deadline:
        """Returns the deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Returns the seconds left (0 when passed)."""
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.expires_at

    def check(self, what: str = "the request") -> None:
        """Raises DeadlineExceeded when the deadline has passed, so no new work starts."""
        if self.expired:
            raise DeadlineExceeded(f"The deadline for {what} passed before it could start.")

    def cap(self, seconds: float) -> float:
        """Returns ``seconds`` shortened to the time left."""
        return min(seconds, self.remaining())
