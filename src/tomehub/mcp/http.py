"""The MCP server over streamable HTTP at ``/mcp`` inside the API app.

The API's auth middleware verifies the credential (an API key as ``Authorization: Bearer th_...``,
or any credential /api takes) and puts the principal on the request; a tool acts for that user,
resolved exactly as the API's ``CurrentUser`` is. A request that reaches the endpoint without a
verified principal gets 401 here, so the endpoint fails closed whatever the middleware covers.

Stateless, with JSON responses: every POST stands alone, so any worker of ``tomehub serve
--workers N`` answers any request (no session affinity, nothing held between requests), and no
stream stays open once the tool has answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tomehub.answer.service import AnswerService
from tomehub.auth.deps import current_user
from tomehub.auth.tokens import Principal
from tomehub.config import Settings
from tomehub.errors import Unauthorized, send_error
from tomehub.ingest.service import IngestQueue
from tomehub.mcp.tools import Caller, LibraryServices, build_server
from tomehub.resources import Resources
from tomehub.search.service import Searcher

PATH = "/mcp"
_NO_CREDENTIAL = "Send 'Authorization: Bearer th_...' (a personal API key: `tomehub key create`)."


async def _caller_of_request(ctx: Context) -> Caller:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        raise Unauthorized(_NO_CREDENTIAL)
    user = await current_user(request)
    state = request.app.state
    resources: Resources = state.resources
    searcher: Searcher = state.searcher
    answers: AnswerService = state.answers
    queue: IngestQueue = state.ingest_queue
    services = LibraryServices(
        settings=resources.settings,
        db=resources.db,
        searcher=searcher,
        answers=answers,
        queue=queue,
        embedder=resources.embedder,
    )
    return Caller(services=services, user_id=user.id)


class _SignedInOnly:
    """Refuses a request that carries no principal verified by the auth middleware (401)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not isinstance(scope.get("state", {}).get("principal"), Principal):
            await send_error(send, Unauthorized(_NO_CREDENTIAL), [(b"www-authenticate", b'Bearer realm="tomehub"')])
            return
        await self.app(scope, receive, send)


class McpEndpoint:
    """The MCP server mounted at ``/mcp``; ``running()`` belongs in the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.server = build_server(_caller_of_request)
        self._runs = 0
        self._configure()

    def _configure(self) -> None:
        # Sets up the SDK's session manager (the Starlette app it returns is not needed: the route
        # installed below serves the manager inside this app, so the request keeps this app's state).
        self.server.streamable_http_app(
            streamable_http_path=PATH,
            stateless_http=True,
            json_response=True,
            max_request_body_size=self._settings.mcp.max_request_body_bytes,
            # The Host check guards a credential-less localhost server against DNS rebinding; here a
            # bearer credential, which no web page can make a browser attach, guards every request,
            # and the Host check would refuse every name but localhost.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    def install(self, app: FastAPI) -> None:
        """Routes ``/mcp`` of ``app`` to the MCP server."""
        app.router.routes.append(Route(PATH, endpoint=_SignedInOnly(self._handle)))

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.server.session_manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serves while the block runs (the SDK's session manager running)."""
        if self._runs:
            # A session manager serves one run only; another lifespan of the same app gets a new one.
            self._configure()
        self._runs += 1
        async with self.server.session_manager.run():
            yield
