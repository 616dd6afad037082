"""SQL for chats and their messages. Every query is scoped by ``user_id``: another user's chat is
indistinguishable from a missing one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from tomehub.store.db import Connection

_CHAT_COLUMNS = """
    c.id, c.title, c.created_at, c.updated_at,
    (SELECT count(*) FROM chat_messages m WHERE m.chat_id = c.id) AS message_count
"""
_MESSAGE_COLUMNS = """
    id, role, content, citations, answerer, review, tier, versions, search_query, followup, complete, created_at
"""
_WORD = re.compile(r"\w+", re.UNICODE)
# A search text is a few words; more are dropped rather than make a huge query.
_MAX_SEARCH_WORDS = 12


def prefix_query(text: str) -> str | None:
    """Returns a tsquery (for the 'simple' configuration) matching every word of ``text`` as a
    prefix, or None when it has no words. Words are \\w runs, so nothing in them is tsquery syntax."""
    words = _WORD.findall(text.lower())[:_MAX_SEARCH_WORDS]
    return " & ".join(f"'{w}':*" for w in words) if words else None


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    citations: list[dict[str, Any]]
    answerer: str | None = None
    review: str | None = None
    tier: int | None = None
    versions: dict[str, Any] | None = None
    search_query: str | None = None
    followup: str | None = None
    complete: bool = True
    created_at: datetime | None = None


async def insert_chat(conn: Connection, *, user_id: int, title: str | None) -> dict[str, Any]:
    cur = await conn.execute(
        """
        WITH c AS (INSERT INTO chats (user_id, title) VALUES (%s, %s) RETURNING *)
        SELECT c.id, c.title, c.created_at, c.updated_at, 0 AS message_count FROM c
        """,
        (user_id, title),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_chat(conn: Connection, *, user_id: int, chat_id: UUID) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_CHAT_COLUMNS} FROM chats c WHERE c.id = %s AND c.user_id = %s", (chat_id, user_id)
    )
    return await cur.fetchone()


async def list_chats(
    conn: Connection,
    *,
    user_id: int,
    limit: int,
    after: tuple[datetime, UUID] | None = None,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """Returns one page of the user's chats, most recently active first, after the keys ``after``;
    ``query`` (a tsquery) keeps those whose title or any message matches."""
    where = ["c.user_id = %(user_id)s"]
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    if after is not None:
        where.append("(c.updated_at, c.id) < (%(after_at)s, %(after_id)s)")
        params["after_at"], params["after_id"] = after
    if query is not None:
        # Both sides use their GIN index; the messages' side is scoped to the user before the join.
        where.append(
            """(to_tsvector('simple', coalesce(c.title, '')) @@ to_tsquery('simple', %(query)s)
                OR c.id IN (SELECT m.chat_id FROM chat_messages m
                            WHERE m.user_id = %(user_id)s
                              AND to_tsvector('simple', m.content) @@ to_tsquery('simple', %(query)s)))"""
        )
        params["query"] = query
    cur = await conn.execute(
        f"""
        SELECT {_CHAT_COLUMNS} FROM chats c
        WHERE {" AND ".join(where)}
        ORDER BY c.updated_at DESC, c.id DESC
        LIMIT %(limit)s
        """,
        params,
    )
    return await cur.fetchall()


async def rename_chat(conn: Connection, *, user_id: int, chat_id: UUID, title: str) -> bool:
    cur = await conn.execute(
        "UPDATE chats SET title = %s, updated_at = now() WHERE id = %s AND user_id = %s", (title, chat_id, user_id)
    )
    return cur.rowcount > 0


async def delete_chat(conn: Connection, *, user_id: int, chat_id: UUID) -> bool:
    cur = await conn.execute("DELETE FROM chats WHERE id = %s AND user_id = %s", (chat_id, user_id))
    return cur.rowcount > 0


async def latest_messages(conn: Connection, *, chat_id: UUID, limit: int) -> list[dict[str, Any]]:
    """Returns the chat's last ``limit`` messages, oldest first (the caller has checked the owner)."""
    cur = await conn.execute(
        f"SELECT {_MESSAGE_COLUMNS} FROM chat_messages WHERE chat_id = %s ORDER BY id DESC LIMIT %s",
        (chat_id, limit),
    )
    rows = await cur.fetchall()
    rows.reverse()
    return rows


async def add_exchange(
    conn: Connection, *, user_id: int, chat_id: UUID, messages: list[NewMessage], title: str | None
) -> list[int] | None:
    """Appends messages to the user's chat in order, names it ``title`` if it has no name yet, and
    returns the new ids; None when the chat is gone (deleted meanwhile) or not the user's."""
    cur = await conn.execute(
        "UPDATE chats SET updated_at = now(), title = coalesce(title, %s) WHERE id = %s AND user_id = %s",
        (title, chat_id, user_id),
    )
    if cur.rowcount == 0:
        return None
    ids: list[int] = []
    for m in messages:
        params = {
            **vars(m),
            "chat_id": chat_id,
            "user_id": user_id,
            "citations": Jsonb(m.citations),
            "versions": None if m.versions is None else Jsonb(m.versions),
        }
        row = await (
            await conn.execute(
                """
                INSERT INTO chat_messages (chat_id, user_id, role, content, citations, answerer, review, tier,
                                           versions, search_query, followup, complete, created_at)
                VALUES (%(chat_id)s, %(user_id)s, %(role)s, %(content)s, %(citations)s, %(answerer)s, %(review)s,
                        %(tier)s, %(versions)s, %(search_query)s, %(followup)s, %(complete)s,
                        coalesce(%(created_at)s, now()))
                RETURNING id
                """,
                params,
            )
        ).fetchone()
        assert row is not None
        ids.append(int(row["id"]))
    return ids
