"""Failed sign-ins per account and per client IP (the ``limits`` library, moving window).

Only failures count, and the limit is checked before the password is: a guesser over the limit gets
429 without costing an argon2 hash. With ``TOMEHUB_REDIS_URL`` the counts live in Redis, shared by
every worker; while Redis is unreachable each worker counts alone (as resilience/ratelimit.py does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

_log = logging.getLogger(__name__)

_REDIS_RETRY_S = 2.0


class LoginLimiter:
    """Counts failed sign-ins and says how long a caller over a limit must wait."""

    def __init__(self, *, per_account: str, per_ip: str, redis_url: str | None, prefix: str = "tomehub-login") -> None:
        self.per_account = parse_many(per_account)
        self.per_ip = parse_many(per_ip)
        self.memory = MemoryStorage()
        self.redis: Storage | None = None
        if redis_url:
            url = redis_url.replace("redis://", "async+redis://", 1)
            self.redis = RedisStorage(
                url, implementation="redispy", key_prefix=prefix, wrap_exceptions=True,
                socket_timeout=0.05, socket_connect_timeout=0.05,
            )  # fmt: skip
        self._down_until = 0.0

    def _items(self, username: str, ip: str | None) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        items: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (item, ("account", username)) for item in self.per_account
        ]
        if ip:
            items += [(item, ("ip", ip)) for item in self.per_ip]
        return items

    async def _run(self, work: Callable[[MovingWindowRateLimiter], Awaitable[float | None]]) -> float | None:
        storage: Storage = self.memory
        if self.redis is not None and time.monotonic() >= self._down_until:
            storage = self.redis
        try:
            return await work(MovingWindowRateLimiter(storage))
        except (StorageError, OSError, TimeoutError) as exc:
            if storage is not self.redis:
                raise
            _log.warning("login limits: Redis unavailable (%s); counting in this process", exc.__class__.__name__)
            self._down_until = time.monotonic() + _REDIS_RETRY_S
            return await work(MovingWindowRateLimiter(self.memory))

    async def retry_after(self, *, username: str, ip: str | None) -> float | None:
        """Returns None when a sign-in may be tried, else the seconds until it may."""

        async def check(limiter: MovingWindowRateLimiter) -> float | None:
            for item, identifiers in self._items(username, ip):
                if not await limiter.test(item, *identifiers):
                    stats = await limiter.get_window_stats(item, *identifiers)
                    return max(1.0, stats.reset_time - time.time())
            return None

        return await self._run(check)

    async def failed(self, *, username: str, ip: str | None) -> None:
        """Counts one failed sign-in against the account and the IP."""

        async def hit(limiter: MovingWindowRateLimiter) -> None:
            for item, identifiers in self._items(username, ip):
                await limiter.hit(item, *identifiers)

        await self._run(hit)
