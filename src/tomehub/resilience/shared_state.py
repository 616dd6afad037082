"""Breaker state shared by every worker process through Redis (when ``TOMEHUB_REDIS_URL`` is set).

Updates are optimistic transactions (WATCH / MULTI): read the snapshot, apply the pure state machine,
write it back unless another process changed it meanwhile (then try again). A Redis outage must not
take the LLM path down with it: calls fall back to this process's own state until Redis answers again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from tomehub.resilience.breaker import MemoryStore, Snapshot

_log = logging.getLogger(__name__)

# After a Redis failure, this process uses its own state for this long before trying Redis again,
# so a dead Redis costs one timeout per period, not one per call.
_REDIS_RETRY_S = 2.0
# Snapshots outlive any window; an idle breaker's state simply expires (closed).
_SNAPSHOT_TTL_S = 3600


class RedisBreakerStore:
    """Breaker snapshots in Redis, with an in-process fallback."""

    def __init__(self, redis: Redis, *, prefix: str = "tomehub") -> None:
        self.redis = redis
        self.prefix = prefix
        self.fallback = MemoryStore()
        self._down_until = 0.0

    @property
    def shared(self) -> bool:
        """False while Redis is unreachable and this process decides alone."""
        return time.monotonic() >= self._down_until

    def _key(self, name: str) -> str:
        return f"{self.prefix}:breaker:{name}"

    def _failed(self, exc: Exception) -> None:
        if self.shared:
            _log.warning("breaker state: Redis unavailable (%s); deciding locally", exc.__class__.__name__)
        self._down_until = time.monotonic() + _REDIS_RETRY_S

    async def read(self, name: str) -> Snapshot:
        if not self.shared:
            return await self.fallback.read(name)
        try:
            return Snapshot.loads(await self.redis.get(self._key(name)))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return await self.fallback.read(name)

    async def update(self, name: str, change: Callable[[Snapshot], Any]) -> Any:
        if not self.shared:
            return await self.fallback.update(name, change)
        key = self._key(name)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        snap = Snapshot.loads(raw)
                        before = snap.dumps()
                        result = change(snap)
                        after = snap.dumps()
                        if after == before:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return result
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(key, after, ex=_SNAPSHOT_TTL_S)
                        await pipe.execute()
                        return result
                    except WatchError:
                        continue
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return await self.fallback.update(name, change)
