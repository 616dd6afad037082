"""A dead Redis costs a request milliseconds, not seconds: the Redis clients fail at once and their
local fallbacks answer (the cold-cache stress scenario runs with Redis down)."""

from __future__ import annotations

import socket
import time

import pytest
from redis.exceptions import RedisError

from tomehub.auth.login_limits import LoginLimiter
from tomehub.main import connect_redis
from tomehub.resilience.ratelimit import Limits, RateLimiter


@pytest.fixture
def dead_redis() -> str:
    with socket.socket() as s:  # a port nothing listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


async def test_the_client_fails_at_once(dead_redis: str) -> None:
    client = connect_redis(dead_redis)
    started = time.monotonic()
    with pytest.raises(RedisError):
        await client.get("anything")
    assert time.monotonic() - started < 0.3
    await client.aclose()


async def test_rate_limits_count_in_the_process_at_once(dead_redis: str) -> None:
    limiter = RateLimiter(Limits(per_user={"default": "5/second"}, global_={}), redis_url=dead_redis)
    started = time.monotonic()
    assert await limiter.check(user="u1", group="search") is None  # counted in memory, allowed
    assert time.monotonic() - started < 0.3


async def test_sign_in_limits_count_in_the_process_at_once(dead_redis: str) -> None:
    limiter = LoginLimiter(per_account="5/minute", per_ip="20/minute", redis_url=dead_redis)
    started = time.monotonic()
    await limiter.failed(username="ada", ip="10.0.0.1")
    assert await limiter.retry_after(username="ada", ip="10.0.0.1") is None
    assert time.monotonic() - started < 0.3
