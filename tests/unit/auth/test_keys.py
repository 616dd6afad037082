"""API key format, user names and the failed sign-in limiter (in memory)."""

from __future__ import annotations

import hashlib

import pytest

from tomehub.auth.accounts import normalize_username
from tomehub.auth.keys import is_api_key, key_digest, new_key, well_formed
from tomehub.auth.login_limits import LoginLimiter
from tomehub.errors import BadInput


def test_new_keys_have_the_documented_shape() -> None:
    key, prefix = new_key()
    assert key.startswith(f"th_{prefix}_")
    assert len(prefix) == 8
    assert prefix.isalnum()
    assert prefix == prefix.lower()
    secret = key[len("th_") + 8 + 1 :]
    assert len(secret) >= 43  # 32 random bytes, urlsafe base64
    assert well_formed(key)
    assert is_api_key(key)


def test_keys_are_unique_and_stored_as_their_sha256() -> None:
    keys = {new_key()[0] for _ in range(200)}
    assert len(keys) == 200
    key = next(iter(keys))
    assert key_digest(key) == hashlib.sha256(key.encode()).hexdigest()
    assert key not in key_digest(key)


@pytest.mark.parametrize(
    "candidate",
    [
        "th_",
        "th_abcdefgh",
        "th_abcdefgh_short",
        "th_ABCDEFGH_" + "a" * 43,
        "th_abcdefg_" + "a" * 44,
        "xx_abcdefgh_" + "a" * 43,
    ],
)
def test_malformed_keys_are_recognised(candidate: str) -> None:
    assert not well_formed(candidate)


def test_jwts_are_not_api_keys() -> None:
    assert not is_api_key("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")


@pytest.mark.parametrize(("raw", "name"), [("Alice", "alice"), (" bob.smith_2-x ", "bob.smith_2-x"), ("abc", "abc")])
def test_user_names_are_normalised(raw: str, name: str) -> None:
    assert normalize_username(raw) == name


@pytest.mark.parametrize("raw", ["ab", "a" * 65, "no spaces", "ali/ce", "élodie", ""])
def test_user_names_outside_the_rule_are_refused(raw: str) -> None:
    with pytest.raises(BadInput):
        normalize_username(raw)


async def test_login_limiter_counts_failures_per_account_and_per_ip() -> None:
    limiter = LoginLimiter(per_account="2/minute", per_ip="3/minute", redis_url=None)
    assert await limiter.retry_after(username="alice", ip="10.0.0.1") is None
    await limiter.failed(username="alice", ip="10.0.0.1")
    assert await limiter.retry_after(username="alice", ip="10.0.0.1") is None
    await limiter.failed(username="alice", ip="10.0.0.1")
    wait = await limiter.retry_after(username="alice", ip="10.0.0.2")  # the account, from anywhere
    assert wait is not None
    assert 1 <= wait <= 60
    assert await limiter.retry_after(username="bob", ip="10.0.0.1") is None
    await limiter.failed(username="bob", ip="10.0.0.1")
    assert await limiter.retry_after(username="carol", ip="10.0.0.1") is not None  # the address, for anyone
    assert await limiter.retry_after(username="carol", ip="10.0.0.3") is None
