"""Personal API keys: ``th_<8-char prefix>_<43-char secret>``, sent as ``Authorization: Bearer th_...``.

Only the SHA-256 of the whole key is stored: the secret holds 256 random bits, so a fast hash cannot
be brute-forced and costs nothing per request (GitHub stores its tokens the same way). The prefix is
public and names the key in lists. Every request looks the key up, so a revocation is immediate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tomehub.errors import NotFound
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database

_log = logging.getLogger(__name__)

KEY_MARK = "th_"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_LEN = 8
_SECRET_BYTES = 32
_KEY_SHAPE = re.compile(r"th_[a-z0-9]{8}_[A-Za-z0-9_-]{43,}")


def is_api_key(token: str) -> bool:
    """Returns whether a bearer token is meant as an API key (rather than a JWT)."""
    return token.startswith(KEY_MARK)


def well_formed(key: str) -> bool:
    """Returns whether ``key`` has the shape of a TomeHub API key."""
    return _KEY_SHAPE.fullmatch(key) is not None


def new_key() -> tuple[str, str]:
    """Returns a fresh key and its public prefix."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LEN))
    return f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}", prefix


def key_digest(key: str) -> str:
    """Returns the stored form of a key (hex SHA-256 of the whole key)."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyState:
    """What the database says about a key presented with a request."""

    key_id: int
    uid: str
    revoked: bool
    account_disabled: bool
    last_used_at: datetime | None


_COLUMNS = "id, user_id, name, prefix, created_at, last_used_at, revoked_at"


def _api_key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(*, db: Database, user_id: int, name: str, deadline: Deadline | None = None) -> tuple[ApiKey, str]:
    """Returns the new key's record and the key itself (shown once, never stored)."""
    secret, prefix = new_key()
    async with db.write(deadline) as conn:
        row = await (
            await conn.execute(
                f"INSERT INTO api_keys (user_id, name, prefix, key_hash) VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
                (user_id, name, prefix, key_digest(secret)),
            )
        ).fetchone()
    assert row is not None
    return _api_key(row), secret


async def list_keys(
    *, db: Database, user_id: int, include_revoked: bool = False, deadline: Deadline | None = None
) -> list[ApiKey]:
    """Returns the user's keys, newest first (live ones only unless asked)."""
    async with db.read(deadline) as conn:
        rows = await (
            await conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE user_id = %s AND (%s OR revoked_at IS NULL)"
                " ORDER BY created_at DESC, id DESC",
                (user_id, include_revoked),
            )
        ).fetchall()
    return [_api_key(r) for r in rows]


async def revoke_key(*, db: Database, key_id: int, user_id: int | None, deadline: Deadline | None = None) -> ApiKey:
    """Returns the key after revoking it; NotFound if it is not the user's (``user_id`` None: anyone's)."""
    if not 1 <= key_id < 2**63:
        raise NotFound(f"No API key {key_id}.")
    async with db.write(deadline) as conn:
        row = await (
            await conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                f" WHERE id = %s AND (%s::integer IS NULL OR user_id = %s) RETURNING {_COLUMNS}",
                (key_id, user_id, user_id),
            )
        ).fetchone()
    if row is None:
        raise NotFound(f"No API key {key_id}.")
    return _api_key(row)


async def key_state(*, db: Database, key: str, deadline: Deadline | None = None) -> KeyState | None:
    """Returns the state of the key presented, or None for a key that was never issued."""
    async with db.read(deadline) as conn:
        row = await (
            await conn.execute(
                """
                SELECT k.id, u.uid, k.revoked_at IS NOT NULL AS revoked, k.last_used_at,
                       a.disabled_at IS NOT NULL AS disabled
                FROM api_keys k
                JOIN users u ON u.id = k.user_id
                LEFT JOIN accounts a ON a.user_id = k.user_id
                WHERE k.key_hash = %s
                """,
                (key_digest(key),),
            )
        ).fetchone()
    if row is None:
        return None
    return KeyState(
        key_id=int(row["id"]),
        uid=row["uid"],
        revoked=bool(row["revoked"]),
        account_disabled=bool(row["disabled"]),
        last_used_at=row["last_used_at"],
    )


class KeyUse:
    """Records when keys were last used, at most once per interval per key and in the background:
    a request never waits for (or fails on) that write."""

    def __init__(self, *, interval_s: float) -> None:
        self.interval_s = interval_s
        self._noted: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def note(self, *, db: Database, state: KeyState) -> None:
        """Schedules the write of the key's last use if the stored one is older than the interval."""
        now = time.monotonic()
        if now - self._noted.get(state.key_id, -self.interval_s) < self.interval_s:
            return
        if state.last_used_at is not None:
            age_s = (datetime.now(state.last_used_at.tzinfo) - state.last_used_at).total_seconds()
            if age_s < self.interval_s:
                # Another worker wrote it lately; look again once that write is an interval old.
                self._noted[state.key_id] = now - age_s
                return
        self._noted[state.key_id] = now
        if len(self._noted) > 10_000:
            self._noted = {k: t for k, t in self._noted.items() if now - t < self.interval_s}
        task = asyncio.get_running_loop().create_task(self._write(db, state.key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, db: Database, key_id: int) -> None:
        try:
            async with db.write(Deadline.after(5.0)) as conn:
                await conn.execute(
                    "UPDATE api_keys SET last_used_at = now() WHERE id = %s"
                    " AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => %s))",
                    (key_id, self.interval_s / 2),
                )
        except Exception as exc:  # a missed last-use stamp is harmless; the next use retries
            _log.info("could not record API key %s's last use: %s", key_id, exc.__class__.__name__)
            self._noted.pop(key_id, None)
