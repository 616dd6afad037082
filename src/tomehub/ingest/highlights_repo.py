"""SQL for imported highlights: finding their books, inserting them once, counting them in the run."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tomehub.store.db import Connection

# Items a highlight can be taken from (not other highlights, notes or insights).
_BOOK_TYPES = ["BOOK", "ARTICLE", "WEBSITE"]


async def find_books(conn: Connection, *, user_id: int, titles: list[str]) -> list[dict[str, Any]]:
    """Returns the user's books whose title equals one of ``titles`` ignoring case and spacing, oldest first."""
    cur = await conn.execute(
        r"""
        SELECT id, title, author FROM library_items
         WHERE user_id = %s AND deleted_at IS NULL AND item_type = ANY(%s)
           AND lower(regexp_replace(title, '\s+', ' ', 'g')) = ANY(SELECT lower(t) FROM unnest(%s::text[]) t)
         ORDER BY created_at, id
        """,
        (user_id, _BOOK_TYPES, titles),
    )
    return await cur.fetchall()


async def insert_highlight(
    conn: Connection,
    *,
    user_id: int,
    item_type: str,
    title: str,
    author: str | None,
    tags: list[str],
    summary: str,
    language: str,
    source_filename: str,
    source_item_id: UUID | None,
    highlight_key: str,
) -> UUID | None:
    """Inserts an imported highlight; returns None when the user already has it (same key)."""
    cur = await conn.execute(
        """
        INSERT INTO library_items (user_id, item_type, title, author, tags, summary, language,
                                   source_filename, source_item_id, highlight_key)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (user_id, highlight_key) WHERE deleted_at IS NULL AND highlight_key IS NOT NULL DO NOTHING
        RETURNING id
        """,
        (user_id, item_type, title, author, tags, summary, language, source_filename, source_item_id, highlight_key),
    )
    row = await cur.fetchone()
    return None if row is None else UUID(str(row["id"]))


async def add_highlight_counts(conn: Connection, *, run_id: UUID, added: int, skipped: int) -> None:
    await conn.execute(
        """UPDATE ingestion_runs
              SET highlights_added = highlights_added + %s, highlights_skipped = highlights_skipped + %s
            WHERE id = %s""",
        (added, skipped, run_id),
    )


async def source_of(conn: Connection, *, item_id: UUID) -> UUID | None:
    """Returns the book item an imported highlight was taken from."""
    cur = await conn.execute("SELECT source_item_id FROM library_items WHERE id = %s", (item_id,))
    row = await cur.fetchone()
    return None if row is None or row["source_item_id"] is None else UUID(str(row["source_item_id"]))
