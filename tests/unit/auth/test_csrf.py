"""The CSRF and origin decision of the auth middleware, without a server."""

from __future__ import annotations

import pytest

from tomehub.auth.middleware import csrf_refusal, same_origin

TOKEN = "s3ssion-csrf-token"


@pytest.mark.parametrize(
    ("origin", "scheme", "host", "same"),
    [
        ("http://tomehub.test", "http", "tomehub.test", True),
        ("http://TomeHub.test", "http", "tomehub.test", True),
        ("http://localhost:8000", "http", "localhost:8000", True),
        ("http://localhost:80", "http", "localhost", True),  # the default port, spelled or not
        ("https://example.com", "https", "example.com:443", True),
        ("http://[::1]:8000", "http", "[::1]:8000", True),
        ("http://localhost:5173", "http", "localhost:8000", False),  # another port is another origin
        ("https://tomehub.test", "http", "tomehub.test", False),  # and another scheme
        ("http://tomehub.test", "https", "tomehub.test", False),
        ("http://evil.example", "http", "tomehub.test", False),
        ("http://tomehub.test.evil.example", "http", "tomehub.test", False),
        ("null", "http", "tomehub.test", False),  # sandboxed frames, file: pages
        ("", "http", "tomehub.test", False),
        ("http://tomehub.test:99999", "http", "tomehub.test", False),  # a malformed port
        ("http://tomehub.test", "http", None, False),  # no Host header: nothing to match
    ],
)
def test_same_origin(origin: str, scheme: str, host: str | None, same: bool) -> None:
    assert same_origin(origin, scheme=scheme, host=host) is same


def refusal(method: str = "POST", *, sent: str | None = TOKEN, origin: str | None = None) -> str | None:
    return csrf_refusal(method=method, expected=TOKEN, sent=sent, origin=origin, scheme="http", host="tomehub.test")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_need_nothing(method: str) -> None:
    assert refusal(method, sent=None, origin="http://evil.example") is None


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_unsafe_methods_need_the_token(method: str) -> None:
    assert refusal(method) is None
    assert refusal(method, origin="http://tomehub.test") is None
    assert "X-CSRF-Token" in (refusal(method, sent=None) or "")
    assert "X-CSRF-Token" in (refusal(method, sent="") or "")
    assert "X-CSRF-Token" in (refusal(method, sent=TOKEN + "x") or "")
    assert "X-CSRF-Token" in (refusal(method, sent=TOKEN[:-1]) or "")


def test_a_foreign_origin_is_refused_even_with_the_token() -> None:
    assert "another site" in (refusal(origin="http://evil.example") or "")
    assert "another site" in (refusal(origin="null") or "")


def test_a_session_without_a_csrf_claim_cannot_write() -> None:
    assert csrf_refusal(method="POST", expected=None, sent="", origin=None, scheme="http", host="h") is not None
    assert csrf_refusal(method="POST", expected="", sent="", origin=None, scheme="http", host="h") is not None
