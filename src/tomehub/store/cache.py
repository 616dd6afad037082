"""Two-level cache with versioned keys and single-flight.

Every key is built from every version its value depends on (embedding model and version, chat model,
prompt hash, the user's library revision), so a change of any of them is a miss by construction:
nothing to bump by hand, no stale answer after a prompt edit.

* L1 is in process, bounded by bytes and by time (cachetools).
* L2 is Redis when configured, shared by every worker. Its calls give up after 50 ms and a Redis
  outage only means L1 and the database answer alone: no error reaches a client.
* Single-flight: concurrent requests for one missing key share one computation (per worker).
* Stale-while-revalidate: an entry past its time but within its grace is served at once while one
  refresh runs in the background.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tomehub.metrics import CACHE_REQUESTS
from tomehub.resilience.admission import io_wait

_log = logging.getLogger(__name__)
T = TypeVar("T")

# After an L2 failure, skip Redis this long (one slow call per period, not one per request).
_L2_RETRY_S = 2.0
_HEADER = struct.Struct("!d")  # fresh-until (wall clock) before every stored value


def cache_key(kind: str, *parts: Any) -> str:
    """Returns ``kind:<digest of parts>``; parts are JSON-encoded, so order and types matter."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return f"{kind}:{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


def _kind(key: str) -> str:
    return key.split(":", 1)[0]


class Cache:
    def __init__(
        self,
        *,
        max_bytes: int,
        ttl_s: float,
        redis: Redis | None = None,
        stale_s: float = 0.0,
        prefix: str = "tomehub-cache",
        single_flight: bool = True,
    ) -> None:
        self.coalesce = single_flight
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        # L1 holds entries for their fresh time plus the grace in which they may be served stale.
        self._l1: TTLCache[str, bytes] = TTLCache(maxsize=max_bytes, ttl=ttl_s + stale_s, getsizeof=len)
        self.redis = redis
        self.prefix = prefix
        self._flights: dict[str, asyncio.Future[Any]] = {}
        self._refreshing: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._l2_down_until = 0.0

    # ------------------------------------------------------------ plain get / set

    async def get(self, key: str) -> bytes | None:
        """Returns the value (fresh or within its grace), or None."""
        entry = await self._lookup(key)
        return None if entry is None else entry[1]

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        ttl = self.ttl_s if ttl_s is None else ttl_s
        stored = _HEADER.pack(time.time() + ttl) + value
        if len(stored) <= self._l1.maxsize:
            self._l1[key] = stored
        if self._l2_available():
            try:
                await self.redis.set(self._l2_key(key), stored, px=int((ttl + self.stale_s) * 1000))  # type: ignore[union-attr]
            except (RedisError, OSError, TimeoutError) as exc:
                self._l2_failed(exc)

    def peek(self, key: str) -> bytes | None:
        """Returns an L1 value without touching L2 (for callers that must not wait)."""
        stored = self._l1.get(key)
        return None if stored is None else stored[_HEADER.size :]

    # ------------------------------------------------------------ single-flight

    async def single_flight(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        """Runs ``compute`` once for every concurrent caller of ``key`` (nothing is cached)."""
        if not self.coalesce:
            return await compute()
        flight = self._flights.get(key)
        if flight is not None:
            CACHE_REQUESTS.labels("flight", _kind(key), "coalesced").inc()
            # A wait on another request's work holds no admission slot (see io_wait: holding one
            # here deadlocked the worker once the leader gave its own back for a provider call).
            async with io_wait(capped=False):
                result: T = await asyncio.shield(flight)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # waiters re-raise it; nobody else needs to retrieve it
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._flights.pop(key, None)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[bytes]], *, ttl_s: float | None = None
    ) -> bytes:
        """Returns the cached value, or computes it once for every concurrent caller of this key.
        A value past its time but within the grace is returned at once and refreshed in the background."""
        entry = await self._lookup(key)
        if entry is not None:
            fresh, value = entry
            if not fresh and key not in self._refreshing:
                self._refreshing.add(key)
                self._background.add(asyncio.get_running_loop().create_task(self._refresh(key, compute, ttl_s)))
            return value

        async def compute_and_store() -> bytes:
            value = await compute()
            await self.set(key, value, ttl_s=ttl_s)
            return value

        return await self.single_flight(key, compute_and_store)

    async def _refresh(self, key: str, compute: Callable[[], Awaitable[bytes]], ttl_s: float | None) -> None:
        try:
            await self.set(key, await compute(), ttl_s=ttl_s)
            CACHE_REQUESTS.labels("flight", _kind(key), "refreshed").inc()
        except Exception as exc:  # a failed refresh keeps serving the stale value until its grace ends
            _log.info("cache refresh of %s failed: %s", _kind(key), exc.__class__.__name__)
        finally:
            self._refreshing.discard(key)
            current = asyncio.current_task()
            if current is not None:
                self._background.discard(current)

    # ------------------------------------------------------------ layers

    async def _lookup(self, key: str) -> tuple[bool, bytes] | None:
        """Returns (fresh, value) from L1, else L2 (copied into L1), else None."""
        kind = _kind(key)
        stored = self._l1.get(key)
        layer = "l1"
        if stored is None and self._l2_available():
            try:
                stored = await self.redis.get(self._l2_key(key))  # type: ignore[union-attr]
            except (RedisError, OSError, TimeoutError) as exc:
                self._l2_failed(exc)
                stored = None
            layer = "l2"
            if stored is not None and len(stored) <= self._l1.maxsize:
                self._l1[key] = stored
        if stored is None:
            CACHE_REQUESTS.labels("all", kind, "miss").inc()
            return None
        (fresh_until,) = _HEADER.unpack_from(stored)
        fresh = time.time() < fresh_until
        CACHE_REQUESTS.labels(layer, kind, "hit" if fresh else "stale").inc()
        return fresh, stored[_HEADER.size :]

    def _l2_key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _l2_available(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._l2_down_until

    def _l2_failed(self, exc: Exception) -> None:
        if time.monotonic() >= self._l2_down_until:
            _log.warning("cache L2 (Redis) unavailable (%s); L1 and the database answer alone", exc.__class__.__name__)
        self._l2_down_until = time.monotonic() + _L2_RETRY_S

    def clear_l1(self) -> None:
        self._l1.clear()
