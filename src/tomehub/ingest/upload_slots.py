"""How many uploads one user may have in progress at once, across every worker process.

With Redis the slots are a sorted set per user (member: one upload, score: when it expires), so a
worker that dies mid-upload leaks nothing: its entries expire with the upload's deadline. Without
Redis, or while it is unreachable, each process counts its own uploads (never refusing because
Redis is down).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tomehub.errors import RateLimited

_log = logging.getLogger(__name__)

_REDIS_RETRY_S = 2.0
# What a refused client is told to wait: an upload of a few MB takes about this long.
_RETRY_AFTER_S = 5.0


class UploadSlots:
    def __init__(self, *, limit: int, ttl_s: float, redis: Redis | None = None, prefix: str = "tomehub") -> None:
        self.limit = limit
        self.ttl_s = ttl_s
        self.redis = redis
        self.prefix = prefix
        self._local: dict[int, int] = {}
        self._down_until = 0.0

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        """Holds one of the user's upload slots for the block, or raises RateLimited (429)."""
        token = uuid.uuid4().hex
        shared = await self._take_shared(user_id, token)
        if shared is None:
            self._take_local(user_id)
        try:
            yield
        finally:
            if shared:
                await self._give_back_shared(user_id, token)
            elif shared is None:
                self._local[user_id] -= 1
                if not self._local[user_id]:
                    del self._local[user_id]

    def _refuse(self, in_progress: int) -> RateLimited:
        return RateLimited(
            f"You have {in_progress} uploads in progress; at most {self.limit} may run at once "
            "(TOMEHUB_INGEST__MAX_CONCURRENT_UPLOADS_PER_USER). Retry when one has finished.",
            retry_after_s=_RETRY_AFTER_S,
        )

    def _take_local(self, user_id: int) -> None:
        held = self._local.get(user_id, 0)
        if held >= self.limit:
            raise self._refuse(held)
        self._local[user_id] = held + 1

    async def _take_shared(self, user_id: int, token: str) -> bool | None:
        """Takes a slot in Redis: True when taken, None when Redis cannot answer (count locally)."""
        if self.redis is None or time.monotonic() < self._down_until:
            return None
        key = f"{self.prefix}:uploads:{user_id}"
        now = time.time()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, {token: now + self.ttl_s})
                pipe.zcard(key)
                pipe.expire(key, int(self.ttl_s) + 1)
                _, _, held, _ = await pipe.execute()
            if int(held) > self.limit:
                await self.redis.zrem(key, token)
                raise self._refuse(int(held) - 1)
        except (RedisError, OSError, TimeoutError) as exc:
            _log.warning("upload slots: Redis unavailable (%s); counting this process's uploads", type(exc).__name__)
            self._down_until = time.monotonic() + _REDIS_RETRY_S
            return None
        return True

    async def _give_back_shared(self, user_id: int, token: str) -> None:
        try:
            assert self.redis is not None
            await self.redis.zrem(f"{self.prefix}:uploads:{user_id}", token)
        except (RedisError, OSError, TimeoutError):
            pass  # the entry expires with the upload's deadline
