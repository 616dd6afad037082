"""Local accounts: a username (the user's uid), an argon2id password, admin and disabled flags.

The account ``alice`` owns the library of uid ``alice``: creating an account creates that user (and
its library) when it does not exist yet.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from tomehub.errors import BadInput, Conflict, NotFound
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Connection, Database

_USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
# Serialises the first-account check and insert of concurrent setups (any constant key will do).
_SETUP_LOCK = 0x70_6D_65_68  # "tomehub" setup

USERNAME_RULE = "A user name is 3 to 64 characters: a-z, 0-9, '.', '_' or '-'."


def normalize_username(raw: str) -> str:
    """Returns the canonical (lower-case) user name; raises BadInput for one that breaks the rule."""
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise BadInput(USERNAME_RULE)
    return name


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    is_admin: bool
    disabled: bool
    created_at: datetime


_COLUMNS = "a.user_id, a.username, a.is_admin, a.disabled_at IS NOT NULL AS disabled, a.created_at"


def _account(row: dict[str, Any]) -> Account:
    return Account(
        user_id=int(row["user_id"]),
        username=row["username"],
        is_admin=bool(row["is_admin"]),
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


async def any_account(*, db: Database, deadline: Deadline | None = None) -> bool:
    """Returns whether at least one account exists."""
    async with db.read(deadline) as conn:
        row = await (await conn.execute("SELECT EXISTS (SELECT 1 FROM accounts) AS any")).fetchone()
    return bool(row and row["any"])


async def _insert(
    conn: Connection, *, username: str, password_hash: str, is_admin: bool, adopt_existing_user: bool
) -> Account:
    # Like UserDirectory: the user and its library are created together; a concurrent creation of the
    # same uid (a first request with its token) makes this insert wait, then do nothing.
    user = await (
        await conn.execute("INSERT INTO users (uid) VALUES (%s) ON CONFLICT (uid) DO NOTHING RETURNING id", (username,))
    ).fetchone()
    if user is not None:
        await conn.execute("INSERT INTO library_stats (user_id) VALUES (%s)", (user["id"],))
    elif not adopt_existing_user:
        raise Conflict(f"The user name {username!r} is taken.")
    else:
        user = await (await conn.execute("SELECT id FROM users WHERE uid = %s", (username,))).fetchone()
        assert user is not None
    try:
        row = await (
            await conn.execute(
                """
                INSERT INTO accounts AS a (user_id, username, password_hash, is_admin)
                VALUES (%s, %s, %s, %s)
                RETURNING """
                + _COLUMNS,
                (user["id"], username, password_hash, is_admin),
            )
        ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"The user name {username!r} is taken.") from exc
    assert row is not None
    return _account(row)


async def create_account(
    *,
    db: Database,
    username: str,
    password_hash: str,
    is_admin: bool = False,
    adopt_existing_user: bool = True,
    deadline: Deadline | None = None,
) -> Account:
    """Returns a new account for ``username``; Conflict if the name has an account already (or, when
    ``adopt_existing_user`` is false, if a user of that uid exists at all)."""
    async with db.write(deadline) as conn, conn.transaction():
        return await _insert(
            conn,
            username=username,
            password_hash=password_hash,
            is_admin=is_admin,
            adopt_existing_user=adopt_existing_user,
        )


async def create_first_account(
    *, db: Database, username: str, password_hash: str, deadline: Deadline | None = None
) -> Account:
    """Returns the first account, an admin; Conflict once any account exists."""
    async with db.write(deadline) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
        row = await (await conn.execute("SELECT EXISTS (SELECT 1 FROM accounts) AS any")).fetchone()
        if row and row["any"]:
            raise Conflict("TomeHub is set up already; sign in instead.")
        return await _insert(
            conn, username=username, password_hash=password_hash, is_admin=True, adopt_existing_user=True
        )


async def find_for_sign_in(
    *, db: Database, username: str, deadline: Deadline | None = None
) -> tuple[Account, str] | None:
    """Returns the account named ``username`` and its password hash, or None."""
    async with db.read(deadline) as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS}, a.password_hash FROM accounts a WHERE a.username = %s", (username,))
        ).fetchone()
    return None if row is None else (_account(row), row["password_hash"])


async def password_hash_of(*, db: Database, user_id: int, deadline: Deadline | None = None) -> str:
    """Returns the password hash of the user's account; NotFound when the user has no account."""
    async with db.read(deadline) as conn:
        row = await (await conn.execute("SELECT password_hash FROM accounts WHERE user_id = %s", (user_id,))).fetchone()
    if row is None:
        raise NotFound("This user has no local account (it signs in with a token).")
    return str(row["password_hash"])


async def set_password_hash(
    *, db: Database, user_id: int, password_hash: str, changed: bool = True, deadline: Deadline | None = None
) -> None:
    """Stores a new hash; ``changed`` false for a rehash of the same password (stronger parameters)."""
    async with db.write(deadline) as conn:
        await conn.execute(
            "UPDATE accounts SET password_hash = %s,"
            " password_changed_at = CASE WHEN %s THEN now() ELSE password_changed_at END WHERE user_id = %s",
            (password_hash, changed, user_id),
        )


async def account_of(*, db: Database, user_id: int, deadline: Deadline | None = None) -> Account | None:
    """Returns the account of the user ``user_id``, or None for a user without one."""
    async with db.read(deadline) as conn:
        row = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM accounts a WHERE a.user_id = %s", (user_id,))
        ).fetchone()
    return None if row is None else _account(row)


async def list_accounts(*, db: Database, deadline: Deadline | None = None) -> list[Account]:
    """Returns every account, oldest first."""
    async with db.read(deadline) as conn:
        rows = await (
            await conn.execute(f"SELECT {_COLUMNS} FROM accounts a ORDER BY a.created_at, a.user_id")
        ).fetchall()
    return [_account(r) for r in rows]


async def set_disabled(*, db: Database, username: str, disabled: bool, deadline: Deadline | None = None) -> Account:
    """Returns the account after disabling (which also revokes its sessions and keys) or enabling it."""
    async with db.write(deadline) as conn, conn.transaction():
        row = await (
            await conn.execute(
                "UPDATE accounts AS a SET disabled_at = CASE WHEN %s THEN coalesce(disabled_at, now()) END"
                f" WHERE username = %s RETURNING {_COLUMNS}",
                (disabled, username),
            )
        ).fetchone()
        if row is None:
            raise NotFound(f"No account is named {username!r}.")
        if disabled:
            await conn.execute(
                "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
                (row["user_id"],),
            )
            await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (row["user_id"],)
            )
    return _account(row)


class AccountDirectory:
    """The account of a user (or its absence), cached for a short while: bearer JWTs reach routes
    without a database lookup, and ``current_user`` needs the admin and disabled flags."""

    def __init__(self, *, ttl_s: float, cache_size: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._cache: OrderedDict[int, tuple[float, Account | None]] = OrderedDict()
        self._cache_size = cache_size

    async def get(self, user_id: int, *, db: Database, deadline: Deadline | None = None) -> Account | None:
        """Returns the user's account, or None for a user without one (a CLI-token user)."""
        cached = self._cache.get(user_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(user_id)
            return cached[1]
        account = await account_of(db=db, user_id=user_id, deadline=deadline)
        self._cache[user_id] = (now + self._ttl_s, account)
        self._cache.move_to_end(user_id)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return account

    def forget(self, user_id: int) -> None:
        """Drops the cached account (after a change made by this worker)."""
        self._cache.pop(user_id, None)
