"""The MCP server over stdio (``tomehub mcp``), for desktop clients that start it as a process.

stdout carries the protocol and nothing else: while TomeHub starts (the embedded server, the
models) file descriptor 1 points at stderr, so a stray line from a library or a child process
cannot corrupt the stream; the SDK diverts it again while it serves. The user is the owner of the
API key, which is looked up again on every tool call, so a revoked key stops working at once as it
does over HTTP.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

from mcp.server.mcpserver import Context

from tomehub.auth import keys
from tomehub.errors import Unauthorized
from tomehub.mcp.tools import Caller, LibraryServices, build_server
from tomehub.resilience.deadline import Deadline
from tomehub.store.users import UserDirectory


class StdoutToStderr:
    """Points file descriptor 1 at stderr until ``restore()`` (or the end of the ``with`` block)."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._saved: int | None = os.dup(1)
        os.dup2(2, 1)

    def restore(self) -> None:
        """Points file descriptor 1 at the real stdout again (idempotent)."""
        if self._saved is None:
            return
        sys.stdout.flush()
        os.dup2(self._saved, 1)
        os.close(self._saved)
        self._saved = None

    def __enter__(self) -> StdoutToStderr:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()


async def caller_for_key(
    *,
    services: LibraryServices,
    key: str,
    users: UserDirectory | None = None,
    key_use: keys.KeyUse | None = None,
) -> Caller:
    """Returns the caller an API key names (noting the key's use, as the API does, when given
    ``key_use``); raises Unauthorized for a key that is not one, is revoked, or belongs to a disabled
    account."""
    if not keys.well_formed(key.strip()):
        raise Unauthorized("This is not a TomeHub API key (they look like th_xxxxxxxx_...).")
    deadline = Deadline.after(services.settings.mcp.tool_deadline_s)
    state = await keys.key_state(db=services.db, key=key.strip(), deadline=deadline)
    if state is None:
        raise Unauthorized("This API key is not valid.")
    if state.revoked:
        raise Unauthorized("This API key has been revoked.")
    if state.account_disabled:
        raise Unauthorized("This account is disabled.")
    if key_use is not None:
        key_use.note(db=services.db, state=state)
    user_id = await (users or UserDirectory(services.db)).user_id(state.uid, deadline=deadline)
    return Caller(services=services, user_id=user_id)


async def serve_stdio(*, services: LibraryServices, key: str) -> None:
    """Serves the library's tools over stdin and stdout until the client closes them."""

    users = UserDirectory(services.db)  # remembers the user's id between calls
    key_use = keys.KeyUse(interval_s=services.settings.auth.key_touch_interval_s)

    async def caller_of(ctx: Context) -> Caller:
        return await caller_for_key(services=services, key=key, users=users, key_use=key_use)

    await build_server(caller_of).run_stdio_async()
