"""Local accounts over HTTP: setup, sign-in, cookie sessions with CSRF defence, logout, passwords,
sign-ups, personal API keys and disabled accounts, on the real app and database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.integration.conftest import TestApp, make_settings, serve_test_app
from tomehub.auth import accounts

BASE = "http://tomehub.test"
PASSWORD = "correct horse battery"


@asynccontextmanager
async def running(database_url: str, data_dir: Path, **overrides: Any) -> AsyncIterator[TestApp]:
    settings = make_settings(database_url, data_dir, **overrides)
    async with serve_test_app(settings) as app:
        yield app


@asynccontextmanager
async def browser(tapp: TestApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar, like one browser."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tapp.app), base_url=BASE, timeout=30) as client:
        yield client


def new_name() -> str:
    return "u" + uuid.uuid4().hex[:10]


async def make_account(tapp: TestApp, username: str, password: str = PASSWORD, *, is_admin: bool = False) -> None:
    services = tapp.app.state.auth
    password_hash = await services.passwords.hash(password)
    await accounts.create_account(
        db=tapp.app.state.resources.db, username=username, password_hash=password_hash, is_admin=is_admin
    )


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    session: dict[str, Any] = resp.json()
    return session


def csrf(session: dict[str, Any]) -> dict[str, str]:
    return {"X-CSRF-Token": session["csrf_token"]}


@pytest_asyncio.fixture(loop_scope="session", scope="module", autouse=True)
async def setup_result(tapp: TestApp) -> dict[str, Any]:
    """Runs the first-start flow once on the module's empty database and records what it saw."""
    before = (await tapp.client.get("/api/auth/config")).json()
    async with browser(tapp) as client:
        first = await client.post("/api/auth/setup", json={"username": "Admin", "password": PASSWORD})
        me = await client.get("/api/auth/me")
    again = await tapp.client.post("/api/auth/setup", json={"username": "second", "password": PASSWORD})
    after = (await tapp.client.get("/api/auth/config")).json()
    return {"before": before, "first": first, "me": me, "again": again, "after": after}


async def test_setup_creates_the_first_account_an_admin_once(setup_result: dict[str, Any]) -> None:
    assert setup_result["before"] == {"mode": "local", "signup_open": False, "needs_setup": True, "firebase": None}
    first: httpx.Response = setup_result["first"]
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["user"] == {"uid": "admin", "username": "admin", "is_admin": True}
    assert len(body["csrf_token"]) >= 32
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("tomehub_session=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=1209600"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # plain http here; https requests get Secure
    me: httpx.Response = setup_result["me"]
    assert me.status_code == 200
    assert me.json() == body  # the page can recover its CSRF token after a reload
    again: httpx.Response = setup_result["again"]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert setup_result["after"]["needs_setup"] is False


async def test_login_right_wrong_and_unknown(tapp: TestApp, setup_result: dict[str, Any]) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client:
        session = await sign_in(client, name.upper())  # names are case-insensitive
        assert session["user"] == {"uid": name, "username": name, "is_admin": False}
        assert "tomehub_session" in client.cookies
    for username, password in ((name, "wrong password"), ("nobody-" + name, PASSWORD), ("x", PASSWORD)):
        resp = await tapp.client.post("/api/auth/login", json={"username": username, "password": password})
        assert resp.status_code == 401
        assert resp.json()["error"] == {"code": "unauthorized", "message": "Wrong user name or password."}
    resp = await tapp.client.post("/api/auth/login", json={"username": name})
    assert resp.status_code == 422


async def test_cookie_session_reads_and_writes_only_with_csrf_and_same_origin(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client:
        session = await sign_in(client, name)
        assert (await client.get("/api/library/items")).status_code == 200
        note = {"item_type": "PERSONAL_NOTE", "text": "Cookies are not credentials for strangers.", "title": "n"}

        resp = await client.post("/api/add-item", json=note)
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "forbidden"
        resp = await client.post("/api/add-item", json=note, headers={"X-CSRF-Token": "guess"})
        assert resp.status_code == 403
        resp = await client.post(
            "/api/add-item", json=note, headers={**csrf(session), "Origin": "https://evil.example"}
        )
        assert resp.status_code == 403
        assert "another site" in resp.json()["error"]["message"]
        resp = await client.post(
            "/api/add-item", json=note, headers={**csrf(session), "Origin": "http://tomehub.test:8080"}
        )
        assert resp.status_code == 403

        resp = await client.post("/api/add-item", json=note, headers={**csrf(session), "Origin": BASE})
        assert resp.status_code == 201, resp.text
        item_id = resp.json()["id"]
        resp = await client.post("/api/add-item", json=note, headers=csrf(session))  # no Origin: a script
        assert resp.status_code == 201, resp.text

    # The account's library is the uid's: a bearer token for the same name sees the same item.
    resp = await tapp.client.get(f"/api/library/items/{item_id}", headers=tapp.headers(name))
    assert resp.status_code == 200


async def test_bearer_tokens_work_unchanged_and_need_no_csrf(tapp: TestApp) -> None:
    uid, headers = tapp.new_user()
    assert (await tapp.client.get("/api/library/items", headers=headers)).status_code == 200
    me = await tapp.client.get("/api/auth/me", headers=headers)
    assert me.json() == {"user": {"uid": uid, "username": None, "is_admin": False}, "csrf_token": None}
    resp = await tapp.client.post(
        "/api/add-item", headers={**headers, "Origin": "https://evil.example"}, json={"text": "bearer write"}
    )
    assert resp.status_code == 201


async def test_sign_in_from_another_origin_is_refused(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    resp = await tapp.client.post(
        "/api/auth/login", json={"username": name, "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403
    async with browser(tapp) as client:
        resp = await client.post(
            "/api/auth/login", json={"username": name, "password": PASSWORD}, headers={"Origin": BASE}
        )
        assert resp.status_code == 200


async def test_logout_ends_the_session_at_once(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client:
        session = await sign_in(client, name)
        old_cookie = client.cookies["tomehub_session"]
        assert (await client.post("/api/auth/logout")).status_code == 403  # a forced logout needs the token too
        resp = await client.post("/api/auth/logout", headers=csrf(session))
        assert resp.status_code == 204
        assert "tomehub_session" not in client.cookies
    async with browser(tapp) as stale:
        resp = await stale.get("/api/auth/me", headers={"Cookie": f"tomehub_session={old_cookie}"})
        assert resp.status_code == 401
        assert resp.json()["error"]["message"] == "The session has ended; sign in again."
        assert 'tomehub_session=""' in resp.headers["set-cookie"]  # the browser drops the dead cookie
        resp = await stale.get("/api/library/items", headers={"Authorization": f"Bearer {old_cookie}"})
        assert resp.status_code == 401  # the session's token is no bearer token once its session ended


async def test_change_password(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client, browser(tapp) as elsewhere:
        session = await sign_in(client, name)
        await sign_in(elsewhere, name)
        change = {"current_password": "not it at all", "new_password": "a new long password"}
        resp = await client.post("/api/auth/password", json=change, headers=csrf(session))
        assert resp.status_code == 401
        change = {"current_password": PASSWORD, "new_password": "short"}
        resp = await client.post("/api/auth/password", json=change, headers=csrf(session))
        assert resp.status_code == 422
        assert "at least 8" in resp.json()["error"]["message"]
        change = {"current_password": PASSWORD, "new_password": "a new long password"}
        resp = await client.post("/api/auth/password", json=change, headers=csrf(session))
        assert resp.status_code == 204
        assert (await client.get("/api/auth/me")).status_code == 200  # this session goes on
        assert (await elsewhere.get("/api/auth/me")).status_code == 401  # every other one ends
    resp = await tapp.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert resp.status_code == 401
    async with browser(tapp) as client:
        await sign_in(client, name, "a new long password")
    # A token-only user has no password to change.
    _, headers = tapp.new_user()
    resp = await tapp.client.post("/api/auth/password", json=change, headers=headers)
    assert resp.status_code == 404


async def test_signup_closed_then_open(tapp: TestApp, database_url: str, tmp_path: Path) -> None:
    name = new_name()
    resp = await tapp.client.post("/api/auth/signup", json={"username": name, "password": PASSWORD})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"
    token_user, _ = tapp.new_user()
    await tapp.client.get("/api/library/items", headers=tapp.headers(token_user))  # that user now exists
    async with running(database_url, tmp_path, auth={"signup_open": True}) as open_app:
        assert (await open_app.client.get("/api/auth/config")).json()["signup_open"] is True
        async with browser(open_app) as client:
            resp = await client.post("/api/auth/signup", json={"username": name, "password": PASSWORD})
            assert resp.status_code == 201, resp.text
            assert resp.json()["user"] == {"uid": name, "username": name, "is_admin": False}
            assert (await client.get("/api/library/items")).status_code == 200
        resp = await open_app.client.post("/api/auth/signup", json={"username": name, "password": PASSWORD})
        assert resp.status_code == 409
        # A stranger cannot claim the library of an existing token user by signing up with its name.
        resp = await open_app.client.post("/api/auth/signup", json={"username": token_user, "password": PASSWORD})
        assert resp.status_code == 409
        resp = await open_app.client.post("/api/auth/signup", json={"username": "no spaces", "password": PASSWORD})
        assert resp.status_code == 422
        resp = await open_app.client.post("/api/auth/signup", json={"username": new_name(), "password": "short"})
        assert resp.status_code == 422


async def test_api_keys_create_list_use_and_revoke(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client:
        session = await sign_in(client, name)
        assert (await client.post("/api/auth/keys", json={"name": "laptop"})).status_code == 403  # no CSRF token
        resp = await client.post("/api/auth/keys", json={"name": "laptop"}, headers=csrf(session))
        assert resp.status_code == 201, resp.text
        created = resp.json()
        secret = created["secret"]
        assert secret.startswith(f"th_{created['key']['prefix']}_")
        listed = (await client.get("/api/auth/keys")).json()["keys"]
        assert listed == [created["key"]]
        assert secret not in str(listed)

        key = {"Authorization": f"Bearer {secret}"}
        assert (await tapp.client.get("/api/library/items", headers=key)).status_code == 200
        me = (await tapp.client.get("/api/auth/me", headers=key)).json()
        assert me == {"user": {"uid": name, "username": name, "is_admin": False}, "csrf_token": None}
        resp = await tapp.client.post(
            "/api/add-item", headers={**key, "Origin": "https://x.example"}, json={"text": "k"}
        )
        assert resp.status_code == 201  # keys need no CSRF token
        resp = await tapp.client.post("/api/auth/keys", headers=key, json={"name": "child"})
        assert resp.status_code == 403  # a key cannot mint keys

        deadline = time.monotonic() + 5  # the last use is written in the background
        while (await client.get("/api/auth/keys")).json()["keys"][0]["last_used_at"] is None:
            assert time.monotonic() < deadline, "last_used_at was never written"
            await asyncio.sleep(0.05)

        resp = await client.delete(f"/api/auth/keys/{created['key']['id']}", headers=csrf(session))
        assert resp.status_code == 204
        resp = await tapp.client.get("/api/library/items", headers=key)
        assert resp.status_code == 401
        assert resp.json()["error"]["message"] == "This API key has been revoked."
        assert (await client.get("/api/auth/keys")).json()["keys"] == []
        resp = await client.delete("/api/auth/keys/999999", headers=csrf(session))
        assert resp.status_code == 404

    forged = {"Authorization": f"Bearer {secret[:-4]}AAAA"}
    assert (await tapp.client.get("/api/library/items", headers=forged)).status_code == 401
    assert (
        await tapp.client.get("/api/library/items", headers={"Authorization": "Bearer th_short"})
    ).status_code == 401


async def test_a_second_users_key_sees_none_of_the_first_users_items(tapp: TestApp) -> None:
    first, second = new_name(), new_name()
    await make_account(tapp, first)
    await make_account(tapp, second)
    async with browser(tapp) as client:
        session = await sign_in(client, first)
        resp = await client.post("/api/add-item", json={"text": "first's secret note"}, headers=csrf(session))
        assert resp.status_code == 201
        item_id = resp.json()["id"]
    async with browser(tapp) as client:
        session = await sign_in(client, second)
        secret = (await client.post("/api/auth/keys", json={"name": "k"}, headers=csrf(session))).json()["secret"]
    key = {"Authorization": f"Bearer {secret}"}
    items = (await tapp.client.get("/api/library/items", headers=key)).json()["items"]
    assert item_id not in {i["id"] for i in items}
    assert (await tapp.client.get(f"/api/library/items/{item_id}", headers=key)).status_code == 404
    assert (await tapp.client.delete(f"/api/library/items/{item_id}", headers=key)).status_code == 404
    # A second user cannot revoke the first user's key either.
    async with browser(tapp) as client:
        session = await sign_in(client, first)
        mine = (await client.post("/api/auth/keys", json={"name": "k"}, headers=csrf(session))).json()["key"]
    assert (await tapp.client.delete(f"/api/auth/keys/{mine['id']}", headers=tapp.headers(second))).status_code == 404


async def test_a_disabled_account_is_locked_out_everywhere(tapp: TestApp) -> None:
    name = new_name()
    await make_account(tapp, name)
    async with browser(tapp) as client:
        session = await sign_in(client, name)
        secret = (await client.post("/api/auth/keys", json={"name": "k"}, headers=csrf(session))).json()["secret"]
        await accounts.set_disabled(db=tapp.app.state.resources.db, username=name, disabled=True)
        assert (await client.get("/api/auth/me")).status_code == 401
    assert (await tapp.client.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 401
    resp = await tapp.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert resp.status_code == 401
    assert resp.json()["error"]["message"] == "Wrong user name or password."
    await accounts.set_disabled(db=tapp.app.state.resources.db, username=name, disabled=False)
    async with browser(tapp) as client:
        await sign_in(client, name)
    # Disabling revoked the key for good; enabling does not bring it back.
    assert (await tapp.client.get("/api/auth/me", headers={"Authorization": f"Bearer {secret}"})).status_code == 401


async def test_failed_sign_ins_are_limited_per_account_and_per_ip(
    tapp: TestApp, database_url: str, tmp_path: Path
) -> None:
    overrides = {
        "rate_limits": {"enabled": True},
        "auth": {"login_limit_per_account": "3/minute", "login_limit_per_ip": "6/minute"},
    }
    names = [new_name() for _ in range(3)]
    for name in names:
        await make_account(tapp, name)
    async with running(database_url, tmp_path, **overrides) as limited:
        login = limited.client.post
        for _ in range(3):
            resp = await login("/api/auth/login", json={"username": names[0], "password": "wrong password"})
            assert resp.status_code == 401
        # Over the account's limit, even the right password waits: the limit is checked first.
        resp = await login("/api/auth/login", json={"username": names[0], "password": PASSWORD})
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(resp.headers["retry-after"]) <= 60
        # Successful sign-ins do not count; failures of another account count against the IP.
        await sign_in(limited.client, names[1])
        for _ in range(3):
            resp = await login("/api/auth/login", json={"username": names[1], "password": "wrong password"})
            assert resp.status_code == 401
        resp = await login("/api/auth/login", json={"username": names[2], "password": PASSWORD})
        assert resp.status_code == 429
        assert "retry-after" in resp.headers


async def test_firebase_mode_has_no_local_accounts(database_url: str, tmp_path: Path) -> None:
    overrides = {
        "auth": {
            "mode": "firebase",
            "project_id": "my-project",
            "firebase_api_key": "AIza-public",
            "firebase_auth_domain": "my-project.firebaseapp.com",
        }
    }
    async with running(database_url, tmp_path, **overrides) as fb:
        config = (await fb.client.get("/api/auth/config")).json()
        assert config == {
            "mode": "firebase",
            "signup_open": False,
            "needs_setup": False,
            "firebase": {
                "api_key": "AIza-public",
                "auth_domain": "my-project.firebaseapp.com",
                "project_id": "my-project",
            },
        }
        for route in ("login", "setup", "signup"):
            resp = await fb.client.post(f"/api/auth/{route}", json={"username": "alice", "password": PASSWORD})
            assert resp.status_code == 404
            assert "Firebase" in resp.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/keys", "/api/auth/logout", "/api/auth/password"])
async def test_the_other_auth_routes_need_a_credential(tapp: TestApp, path: str) -> None:
    method = "GET" if path in ("/api/auth/me", "/api/auth/keys") else "POST"
    resp = await tapp.client.request(method, path, json={} if method == "POST" else None)
    assert resp.status_code == 401
