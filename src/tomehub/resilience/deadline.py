"""Deadlines: every request carries one, and each downstream call gets only the time left."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tomehub.errors import DeadlineExceeded
from tomehub.metrics import LATE_STARTS

if TYPE_CHECKING:
    from starlette.types import Scope

Clock = Callable[[], float]

# A client may ask for a shorter deadline than the server's (never a longer one): a caller that
# gives up after 2 s should not have the server work on for 6.
DEADLINE_HEADER = b"x-tomehub-deadline-ms"
# The same as an instant (Unix time in ms), for clients whose clock the server can trust (its own
# load generator, a proxy on the same host): it also counts the time before the server saw the request.
DEADLINE_AT_HEADER = b"x-tomehub-deadline-at"


@dataclass(frozen=True)
class Deadline:
    """An absolute point in time (on ``clock``) after which no new work starts.

    An unenforced deadline (the baseline stress profile: the reference system had none) caps and
    refuses nothing; it only counts the work started after it passed.
    """

    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)
    enforce: bool = field(default=True, compare=False)
    # A request's own deadline counts work reached after it (tomehub_late_starts_total); the earlier
    # deadlines a request sets for its stages do not (passing one is planned, not late).
    counted: bool = field(default=True, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Clock = time.monotonic, *, enforce: bool = True) -> Deadline:
        """Returns the deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock, enforce)

    def sooner(self, seconds: float) -> Deadline:
        """This deadline moved ``seconds`` earlier: a stage's, leaving time for what follows it."""
        return Deadline(self.expires_at - seconds, self.clock, self.enforce, counted=False)

    def remaining(self) -> float:
        """Returns the seconds left (0 when passed; unbounded when not enforced)."""
        if not self.enforce:
            return math.inf
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self) -> bool:
        return self.enforce and self.clock() >= self.expires_at

    def check(self, what: str = "the request") -> None:
        """Raises DeadlineExceeded when the deadline has passed, so no new work starts."""
        if self.clock() < self.expires_at:
            return
        if self.counted:
            LATE_STARTS.labels(what, "refused" if self.enforce else "started").inc()
        if self.enforce:
            raise DeadlineExceeded(f"The deadline for {what} passed before it could start.")

    def cap(self, seconds: float) -> float:
        """Returns ``seconds`` shortened to the time left."""
        return min(seconds, self.remaining())


def requested_deadline(scope: Scope, default_s: float, elapsed_s: float = 0.0) -> float:
    """The seconds left of the server's budget, shortened by the client's own: a relative one (ms
    from its arrival) and an absolute one (Unix ms), whichever ends first. The relative ones count
    from the request's arrival, ``elapsed_s`` ago (a request held at the edge has spent that). The
    absolute one also counts the time the request spent where the server cannot see it (the
    client's queue, the network, the accept queue), and may be negative: the request arrived after
    its client gave up."""
    budget = default_s - elapsed_s
    for name, value in scope["headers"]:
        try:
            if name == DEADLINE_HEADER:
                budget = min(budget, max(0.05, float(value) / 1000) - elapsed_s)
            elif name == DEADLINE_AT_HEADER:
                budget = min(budget, float(value) / 1000 - time.time())
        except ValueError:
            continue
    return budget
