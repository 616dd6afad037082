"""Authentication as pure ASGI middleware: every /api route but health needs a verified bearer token.

It runs before rate limiting (which counts per user) and admission; the principal is put on the
request scope for the ``CurrentUser`` dependency.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tomehub.auth.tokens import TokenVerifier
from tomehub.errors import Unauthorized, send_error

_PUBLIC_PREFIXES = ("/api/health",)


class AuthMiddleware:
    """Rejects unauthenticated /api requests with 401; records the principal of the others."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _needs_auth(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        try:
            if token is None:
                raise Unauthorized("Send 'Authorization: Bearer <token>'; `tomehub token create` issues one.")
            principal = self.verifier.verify(token)
        except Unauthorized as exc:
            await _reject(send, exc)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _needs_auth(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith(_PUBLIC_PREFIXES)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _reject(send: Send, exc: Unauthorized) -> None:
    await send_error(send, exc, [(b"www-authenticate", b'Bearer realm="tomehub"')])
