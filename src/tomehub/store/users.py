"""Users: the verified token's uid mapped to the compact id every table refers to."""

from __future__ import annotations

from collections import OrderedDict

from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database


class UserDirectory:
    """Maps uids to user ids, creating the user on first sight; recent mappings stay in memory."""

    def __init__(self, db: Database, *, cache_size: int = 10_000) -> None:
        self._db = db
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size

    async def user_id(self, uid: str, *, deadline: Deadline | None = None) -> int:
        """Returns the id of the user ``uid``, creating the user (and its library) if new."""
        cached = self._cache.get(uid)
        if cached is not None:
            self._cache.move_to_end(uid)
            return cached
        async with self._db.write(deadline) as conn:
            row = await (
                await conn.execute(
                    """
                    WITH new AS (
                        INSERT INTO users (uid) VALUES (%(uid)s)
                        ON CONFLICT (uid) DO NOTHING RETURNING id
                    ), stats AS (
                        INSERT INTO library_stats (user_id) SELECT id FROM new
                    )
                    SELECT id FROM new UNION ALL SELECT id FROM users WHERE uid = %(uid)s
                    """,
                    {"uid": uid},
                )
            ).fetchone()
            if row is None:
                # A concurrent first request created the user after this statement's snapshot.
                row = await (await conn.execute("SELECT id FROM users WHERE uid = %s", (uid,))).fetchone()
        assert row is not None
        user_id = int(row["id"])
        self._cache[uid] = user_id
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return user_id

    async def find(self, uid: str, *, deadline: Deadline | None = None) -> int | None:
        """Returns the id of ``uid`` if the user exists, without creating it."""
        if uid in self._cache:
            return self._cache[uid]
        async with self._db.read(deadline) as conn:
            row = await (await conn.execute("SELECT id FROM users WHERE uid = %s", (uid,))).fetchone()
        return None if row is None else int(row["id"])
