"""Authentication as pure ASGI middleware: every /api route but health and the sign-in routes needs a
credential, and cookie-authenticated writes must prove they come from this site. The routes chat
clients and agents call, /v1 (OpenAI-compatible) and /mcp, take bearer credentials only (no
cookie: a browser must not drive them with a user's session); /v1 refuses in OpenAI's error shape.

Three credentials, in this order:

- ``Authorization: Bearer th_...``: a personal API key, looked up by its hash on every request;
- ``Authorization: Bearer <JWT>``: a locally signed token (``tomehub token create``) or a Firebase ID
  token, verified by signature alone (a session's token is also checked against its row);
- the ``tomehub_session`` cookie: a session's token, checked against its row (logout, expiry and a
  disabled account end it at once); its unsafe methods need ``X-CSRF-Token`` and, when the browser
  sends one, an ``Origin`` equal to this server's.

Bearer credentials are exempt from the CSRF check: a browser never attaches them on its own. It runs
before rate limiting (which counts per user) and admission; the principal is put on the request
scope for the ``CurrentUser`` dependency. Other paths (the web app) are not its business.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import replace
from urllib.parse import urlsplit

import psycopg
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from tomehub.auth import keys, sessions
from tomehub.auth.tokens import Principal, TokenVerifier
from tomehub.errors import (
    DatabaseUnavailable,
    Forbidden,
    TomehubError,
    Unauthorized,
    Unavailable,
    openai_path,
    send_error,
)
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database

_PUBLIC_PREFIXES = ("/api/health",)
# Reached before anyone has signed in; their writes still have their Origin checked.
PUBLIC_PATHS = frozenset({"/api/auth/config", "/api/auth/setup", "/api/auth/signup", "/api/auth/login"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CLEAR_COOKIE = (
    b"set-cookie",
    sessions.SESSION_COOKIE.encode() + b'=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; '
    b"HttpOnly; SameSite=strict",
)
_NO_CREDENTIAL = "Sign in, or send 'Authorization: Bearer <token or API key>'; `tomehub token create` issues a token."
_NO_BEARER = "Send 'Authorization: Bearer <API key>'; create a key in Settings or with `tomehub key create`."
_SESSION_ENDED = "The session has ended; sign in again."


def bearer_only_path(path: str) -> bool:
    """Returns whether ``path`` is one of the machine-facing trees (/v1, /mcp) that take bearer
    credentials only."""
    return path.startswith(("/v1/", "/mcp/")) or path in ("/v1", "/mcp")


def same_origin(origin: str, *, scheme: str, host: str | None) -> bool:
    """Returns whether an Origin header names this server (scheme, host and port) as the request
    reached it."""
    if not host:
        return False
    try:
        theirs = urlsplit(origin)
        ours = urlsplit(f"//{host}")
        their_port = theirs.port or _DEFAULT_PORTS.get(theirs.scheme)
        our_port = ours.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:  # a malformed port or host
        return False
    return (
        theirs.scheme == scheme
        and theirs.hostname is not None
        and theirs.hostname == ours.hostname
        and their_port == our_port
    )


def csrf_refusal(
    *, method: str, expected: str | None, sent: str | None, origin: str | None, scheme: str, host: str | None
) -> str | None:
    """Returns why a cookie-authenticated request must be refused as a possible cross-site forgery,
    or None when it may proceed. Safe methods always may."""
    if method not in _UNSAFE_METHODS:
        return None
    if origin is not None and not same_origin(origin, scheme=scheme, host=host):
        return "This request comes from another site (its Origin is not this server)."
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return "Send the session's CSRF token (from sign-in or GET /api/auth/me) in the X-CSRF-Token header."
    return None


class _Headers:
    """The few request headers authentication reads, found in one pass."""

    __slots__ = ("authorization", "cookie", "csrf", "host", "origin")

    def __init__(self, scope: Scope) -> None:
        self.authorization: str | None = None
        self.cookie: str | None = None
        self.origin: str | None = None
        self.host: str | None = None
        self.csrf: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"cookie":
                # Several cookie headers (HTTP/2) are one list.
                cookie = value.decode("latin-1")
                self.cookie = cookie if self.cookie is None else f"{self.cookie}; {cookie}"
            elif name == b"origin":
                self.origin = value.decode("latin-1")
            elif name == b"host":
                self.host = value.decode("latin-1")
            elif name == b"x-csrf-token":
                self.csrf = value.decode("latin-1")

    def bearer(self) -> str | None:
        if self.authorization is None:
            return None
        scheme, _, token = self.authorization.partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    def session_token(self) -> str | None:
        if self.cookie is None or sessions.SESSION_COOKIE not in self.cookie:
            return None
        return cookie_parser(self.cookie).get(sessions.SESSION_COOKIE) or None


class AuthMiddleware:
    """Rejects unauthenticated /api, /v1 and /mcp requests with 401 and cross-site cookie writes
    with 403; records the principal of the others."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, key_use: keys.KeyUse | None = None) -> None:
        self.app = app
        self.verifier = verifier
        self.key_use = key_use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"] if scope["type"] == "http" else ""
        if path.startswith("/api/"):
            if path.startswith(_PUBLIC_PREFIXES):
                await self.app(scope, receive, send)
                return
            bearer_only = False
        elif bearer_only_path(path):
            bearer_only = True
        else:
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope)
        if not bearer_only and path in PUBLIC_PATHS:
            if (
                scope["method"] in _UNSAFE_METHODS
                and headers.origin is not None
                and not same_origin(headers.origin, scheme=scope["scheme"], host=headers.host)
            ):
                await _reject(send, Forbidden("This request comes from another site (its Origin is not this server)."))
                return
            await self.app(scope, receive, send)
            return
        by_cookie = False
        try:
            token = headers.bearer()
            if token is not None:
                principal = await self._bearer(scope, token)
            elif not bearer_only and headers.authorization is None and (cookie := headers.session_token()) is not None:
                by_cookie = True
                principal = await self._cookie(scope, headers, cookie)
            else:
                raise Unauthorized(_NO_BEARER if bearer_only else _NO_CREDENTIAL)
        except TomehubError as exc:
            # A cookie that no longer signs anyone in is dropped, so the browser stops sending it.
            clear_cookie = by_cookie and isinstance(exc, Unauthorized)
            await _reject(send, exc, clear_cookie=clear_cookie, openai=bearer_only and openai_path(path))
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _bearer(self, scope: Scope, token: str) -> Principal:
        if keys.is_api_key(token):
            return await self._api_key(scope, token)
        principal = self.verifier.verify(token)
        if principal.session_id is not None:
            await self._check_session(scope, principal)
        return principal

    async def _cookie(self, scope: Scope, headers: _Headers, token: str) -> Principal:
        principal = self.verifier.verify(token)
        if principal.session_id is None:
            raise Unauthorized("The session cookie is not valid; sign in again.")
        # The CSRF check costs nothing: a forged request is refused before any database lookup.
        refusal = csrf_refusal(
            method=scope["method"],
            expected=principal.csrf,
            sent=headers.csrf,
            origin=headers.origin,
            scheme=scope["scheme"],
            host=headers.host,
        )
        if refusal is not None:
            raise Forbidden(refusal)
        await self._check_session(scope, principal)
        return replace(principal, via="cookie")

    async def _check_session(self, scope: Scope, principal: Principal) -> None:
        assert principal.session_id is not None
        try:
            state = await sessions.session_state(
                db=_database(scope), session_id=principal.session_id, deadline=_deadline(scope)
            )
        except psycopg.Error as exc:
            raise DatabaseUnavailable("Could not check the session; retry shortly.", retry_after_s=1.0) from exc
        if state is None or not state.live or state.uid != principal.uid:
            raise Unauthorized(_SESSION_ENDED)
        if state.account_disabled:
            raise Unauthorized("This account is disabled.")

    async def _api_key(self, scope: Scope, key: str) -> Principal:
        if not keys.well_formed(key):
            raise Unauthorized("This API key is not valid.")
        db = _database(scope)
        try:
            state = await keys.key_state(db=db, key=key, deadline=_deadline(scope))
        except psycopg.Error as exc:
            raise DatabaseUnavailable("Could not check the API key; retry shortly.", retry_after_s=1.0) from exc
        if state is None:
            raise Unauthorized("This API key is not valid.")
        if state.revoked:
            raise Unauthorized("This API key has been revoked.")
        if state.account_disabled:
            raise Unauthorized("This account is disabled.")
        if self.key_use is not None:
            self.key_use.note(db=db, state=state)
        return Principal(uid=state.uid, api_key_id=state.key_id, via="api_key")


def _database(scope: Scope) -> Database:
    resources = getattr(getattr(scope.get("app"), "state", None), "resources", None)
    if resources is None:
        raise Unavailable("TomeHub is starting; retry shortly.", retry_after_s=1.0)
    db: Database = resources.db
    return db


def _deadline(scope: Scope) -> Deadline | None:
    deadline = scope.get("state", {}).get("deadline")
    return deadline if isinstance(deadline, Deadline) else None


async def _reject(send: Send, exc: TomehubError, *, clear_cookie: bool = False, openai: bool = False) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="tomehub"'))
    if clear_cookie:
        headers.append(_CLEAR_COOKIE)
    if exc.retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after_s))).encode()))
    await send_error(send, exc, headers, openai=openai)
