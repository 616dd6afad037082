"""Every route but health needs a verified token; the user id comes only from the token."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.conftest import TestApp

ROUTES = [
    ("GET", "/api/library/items", None),
    ("GET", f"/api/library/items/{uuid.uuid4()}", None),
    ("PATCH", f"/api/library/items/{uuid.uuid4()}", {"title": "x"}),
    ("DELETE", f"/api/library/items/{uuid.uuid4()}", None),
    ("GET", "/api/content?ids=1", None),
    ("POST", "/api/add-item", {"text": "x"}),
    ("POST", "/api/ingest", None),
    ("GET", f"/api/ingest/runs/{uuid.uuid4()}", None),
    ("POST", "/api/smart-search", {"query": "x"}),
    ("POST", "/api/search", {"question": "x"}),
]


def _token(tapp: TestApp, *, key: object = None, **claims: object) -> str:
    from cryptography.hazmat.primitives import serialization

    now = int(time.time())
    body = {
        "iss": tapp.settings.auth.issuer,
        "aud": tapp.settings.auth.project_id,
        "sub": "someone",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    if key is None:
        key = serialization.load_pem_private_key(tapp.settings.local_signing_key_path.read_bytes(), password=None)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256")  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_needs_a_token(tapp: TestApp, method: str, path: str, body: dict | None) -> None:
    resp = await tapp.client.request(method, path, json=body)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["www-authenticate"].startswith("Bearer")
    resp = await tapp.client.request(method, path, json=body, headers={"Authorization": "Bearer not.a.jwt"})
    assert resp.status_code == 401


async def test_tokens_that_fail_verification_are_401(tapp: TestApp) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "expired": _token(tapp, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "wrong audience": _token(tapp, aud="another-project"),
        "wrong issuer": _token(tapp, iss="https://securetoken.google.com/another-project"),
        "foreign key": _token(tapp, key=stranger),
        "no subject": _token(tapp, sub=None),
        "empty subject": _token(tapp, sub=""),
    }
    for name, token in cases.items():
        resp = await tapp.client.get("/api/library/items", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
    resp = await tapp.client.get("/api/library/items", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert resp.status_code == 401


async def test_valid_token_is_accepted_and_health_is_public(tapp: TestApp) -> None:
    resp = await tapp.client.get("/api/library/items", headers={"Authorization": f"Bearer {_token(tapp)}"})
    assert resp.status_code == 200
    assert (await tapp.client.get("/api/health")).json() == {"status": "ok"}
    ready = await tapp.client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_user_id_in_the_body_is_ignored(tapp: TestApp) -> None:
    uid, _h = tapp.new_user()
    _, other = tapp.new_user()
    resp = await tapp.client.post("/api/smart-search", headers=other, json={"query": "x", "user_id": uid, "uid": uid})
    assert resp.status_code == 422  # unknown fields are refused, never honoured
