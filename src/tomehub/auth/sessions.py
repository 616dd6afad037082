"""Browser sessions: a row per sign-in, named by the ``sid`` claim of a locally signed token that
travels in an HttpOnly cookie. The row is checked on every request, so a logout is immediate."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

from tomehub.auth.tokens import issue_local_token
from tomehub.config import AuthSettings
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database

SESSION_COOKIE = "tomehub_session"
# The header a cookie-authenticated write must repeat the session's CSRF token in.
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class IssuedSession:
    """A new session: the token for the cookie and the CSRF token for the page."""

    session_id: str
    token: str
    csrf: str
    max_age_s: int


@dataclass(frozen=True)
class SessionState:
    """What the database says about a session presented with a request."""

    uid: str
    live: bool
    account_disabled: bool


async def start_session(
    *,
    db: Database,
    auth: AuthSettings,
    key_path: Path,
    user_id: int,
    uid: str,
    user_agent: str | None,
    deadline: Deadline | None = None,
) -> IssuedSession:
    """Returns a new session for the user (and forgets the user's ended ones)."""
    async with db.write(deadline) as conn, conn.transaction():
        # Ended sessions serve no purpose; each sign-in sweeps its own user's.
        await conn.execute(
            "DELETE FROM auth_sessions WHERE user_id = %s AND (revoked_at IS NOT NULL OR expires_at < now())",
            (user_id,),
        )
        row = await (
            await conn.execute(
                "INSERT INTO auth_sessions (user_id, expires_at, user_agent)"
                " VALUES (%s, now() + make_interval(secs => %s), %s) RETURNING id",
                (user_id, auth.session_ttl_s, (user_agent or "")[:300] or None),
            )
        ).fetchone()
    assert row is not None
    session_id = str(row["id"])
    csrf = secrets.token_urlsafe(32)
    # Loading the key and signing is a few milliseconds of CPU: off the event loop.
    token = await asyncio.to_thread(
        issue_local_token, auth, key_path, uid, ttl_s=auth.session_ttl_s, session_id=session_id, csrf=csrf
    )
    return IssuedSession(session_id=session_id, token=token, csrf=csrf, max_age_s=auth.session_ttl_s)


async def session_state(*, db: Database, session_id: str, deadline: Deadline | None = None) -> SessionState | None:
    """Returns the state of the session ``session_id``, or None if there is no such session."""
    try:
        sid = uuid.UUID(session_id)
    except ValueError:
        return None
    async with db.read(deadline) as conn:
        row = await (
            await conn.execute(
                """
                SELECT u.uid,
                       s.revoked_at IS NULL AND s.expires_at > now() AS live,
                       a.disabled_at IS NOT NULL AS disabled
                FROM auth_sessions s
                JOIN users u ON u.id = s.user_id
                LEFT JOIN accounts a ON a.user_id = s.user_id
                WHERE s.id = %s
                """,
                (sid,),
            )
        ).fetchone()
    if row is None:
        return None
    return SessionState(uid=row["uid"], live=bool(row["live"]), account_disabled=bool(row["disabled"]))


async def end_session(*, db: Database, session_id: str, deadline: Deadline | None = None) -> None:
    """Revokes one session."""
    async with db.write(deadline) as conn:
        await conn.execute(
            "UPDATE auth_sessions SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
            (uuid.UUID(session_id),),
        )


async def end_other_sessions(*, db: Database, user_id: int, keep: str | None, deadline: Deadline | None = None) -> None:
    """Revokes every live session of the user but ``keep`` (the one changing the password)."""
    keep_id = uuid.UUID(keep) if keep else None
    async with db.write(deadline) as conn:
        await conn.execute(
            "UPDATE auth_sessions SET revoked_at = now()"
            " WHERE user_id = %s AND revoked_at IS NULL AND id IS DISTINCT FROM %s",
            (user_id, keep_id),
        )
