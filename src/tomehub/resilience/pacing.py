"""Client-side pacing to a provider's rate limit (aiolimiter's leaky bucket), honouring Retry-After.

When a provider answers 429 with Retry-After, every caller of that provider pauses until then,
instead of each discovering the limit with a request of its own.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

from tomehub.errors import Unavailable
from tomehub.resilience.deadline import Deadline


class PacedOut(Unavailable):
    """Waiting for the provider's rate limit would pass the deadline."""

    code = "provider_rate_limited"


class Pacer:
    """Paces calls to one provider."""

    def __init__(self, name: str, *, requests_per_s: float | None) -> None:
        self.name = name
        self.limiter = AsyncLimiter(requests_per_s, 1.0) if requests_per_s else None
        self.paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Stops new calls for ``seconds`` (a provider's Retry-After)."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    async def wait_turn(self, deadline: Deadline | None) -> None:
        """Waits until a call may start; raises PacedOut if that would pass the deadline."""
        pause = self.paused_until - time.monotonic()
        if pause > 0:
            if deadline is not None and pause >= deadline.remaining():
                raise PacedOut(
                    f"The {self.name} provider asked us to wait {pause:.1f} s; that is past the deadline.",
                    retry_after_s=pause,
                )
            await asyncio.sleep(pause)
        if self.limiter is None:
            return
        if deadline is None:
            await self.limiter.acquire()
            return
        try:
            await asyncio.wait_for(self.limiter.acquire(), deadline.remaining())
        except TimeoutError as exc:
            raise PacedOut(
                f"The {self.name} rate limit leaves no turn before the deadline.", retry_after_s=1.0
            ) from exc
