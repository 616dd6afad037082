"""Rate limits per user and in total, per route group (the ``limits`` library).

With ``TOMEHUB_REDIS_URL`` the counters live in Redis, so every worker process shares them; without
it each worker counts alone. A Redis outage must not refuse traffic: the limiter falls back to this
process's own counters until Redis answers again.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Receive, Scope, Send

from tomehub.errors import RateLimited, openai_path, send_error

_log = logging.getLogger(__name__)

_REDIS_RETRY_S = 2.0

# Route groups: a request's group is that of the first (method, prefix) it matches.
_GROUPS = (
    ("POST", "/api/smart-search", "search"),
    ("POST", "/api/search", "ask"),
    ("POST", "/api/ingest", "ingest"),
    ("POST", "/api/add-item", "ingest"),
    ("POST", "/v1/chat/completions", "ask"),
    # MCP's JSON-RPC body hides which tool is called; any of them may ask a question.
    ("POST", "/mcp", "ask"),
)
# Paths whose requests are counted: the API, the OpenAI-compatible endpoint and MCP (health never).
_LIMITED = ("/api/", "/v1/", "/mcp")


def group_of(method: str, path: str) -> str:
    for group_method, prefix, group in _GROUPS:
        if method == group_method and path.startswith(prefix):
            return group
    # A message in a chat is a question answered (/api/chats/{id}/messages).
    if method == "POST" and path.startswith("/api/chats/") and path.endswith("/messages"):
        return "ask"
    return "default"


@dataclass(frozen=True)
class Limits:
    """Limit strings in the ``limits`` notation ("20/second;300/minute")."""

    per_user: dict[str, str]
    global_: dict[str, str]


class RateLimiter:
    def __init__(self, limits: Limits, *, redis_url: str | None, prefix: str = "tomehub-rl") -> None:
        self.per_user = {group: parse_many(spec) for group, spec in limits.per_user.items()}
        self.global_ = {group: parse_many(spec) for group, spec in limits.global_.items()}
        self.memory = MemoryStorage()
        self.redis: Storage | None = None
        if redis_url:
            url = redis_url.replace("redis://", "async+redis://", 1)
            self.redis = RedisStorage(
                url, implementation="redispy", key_prefix=prefix, wrap_exceptions=True,
                socket_timeout=0.05, socket_connect_timeout=0.05,
            )  # fmt: skip
        self._down_until = 0.0
        self.limited = 0

    def _storage(self) -> Storage:
        if self.redis is not None and time.monotonic() >= self._down_until:
            return self.redis
        return self.memory

    async def check(self, *, user: str | None, group: str) -> float | None:
        """Counts a request; returns None when it may proceed, else the seconds until it may retry."""
        items: list[tuple[RateLimitItem, tuple[str, ...]]] = []
        for item in self.global_.get(group, []) + self.global_.get("all", []):
            items.append((item, ("global", group)))
        if user is not None:
            for item in self.per_user.get(group, self.per_user.get("default", [])):
                items.append((item, ("user", user, group)))
        storage = self._storage()
        try:
            return await self._hit(SlidingWindowCounterRateLimiter(storage), items)
        except (StorageError, OSError, TimeoutError) as exc:
            if storage is self.redis:
                _log.warning("rate limits: Redis unavailable (%s); counting in this process", exc.__class__.__name__)
                self._down_until = time.monotonic() + _REDIS_RETRY_S
                return await self._hit(SlidingWindowCounterRateLimiter(self.memory), items)
            raise

    async def _hit(
        self, limiter: SlidingWindowCounterRateLimiter, items: list[tuple[RateLimitItem, tuple[str, ...]]]
    ) -> float | None:
        for item, identifiers in items:
            if not await limiter.hit(item, *identifiers):
                stats = await limiter.get_window_stats(item, *identifiers)
                self.limited += 1
                return max(0.0, stats.reset_time - time.time())
        return None


class RateLimitMiddleware:
    """Pure ASGI, after authentication: 429 with Retry-After for a user (or everyone) over a limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_LIMITED) or scope["path"].startswith("/api/health"):
            await self.app(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        group = group_of(scope["method"], scope["path"])
        retry_after = await self.limiter.check(user=getattr(principal, "uid", None), group=group)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        exc = RateLimited(f"Too many {group} requests; retry in {math.ceil(retry_after)} s.", retry_after_s=retry_after)
        headers = [(b"retry-after", str(max(1, math.ceil(retry_after))).encode())]
        await send_error(send, exc, headers, openai=openai_path(scope["path"]))
