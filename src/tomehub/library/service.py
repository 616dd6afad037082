"""Library domain logic: items and their content, always scoped to one user."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from tomehub.errors import BadInput, NotFound
from tomehub.library import repo
from tomehub.library.schemas import ChunkOut, ContentBatch, ItemOut, ItemPage, ItemPatch
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database

MAX_CONTENT_IDS = 200


async def list_items(
    *,
    db: Database,
    user_id: int,
    limit: int,
    cursor: str | None,
    item_type: str | None,
    tag: str | None,
    deadline: Deadline,
) -> ItemPage:
    """Returns one page of the user's items, newest first."""
    after = _decode_cursor(cursor) if cursor else None
    async with db.read(deadline) as conn:
        rows = await repo.list_items(conn, user_id=user_id, limit=limit + 1, after=after, item_type=item_type, tag=tag)
    items = [ItemOut.model_validate(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return ItemPage(items=items, next_cursor=next_cursor)


async def get_item(*, db: Database, user_id: int, item_id: UUID, deadline: Deadline) -> ItemOut:
    """Returns one item of the user's."""
    async with db.read(deadline) as conn:
        row = await repo.get_item(conn, user_id=user_id, item_id=item_id)
    if row is None:
        raise NotFound(f"No item {item_id} in your library.")
    return ItemOut.model_validate(row)


async def update_item(*, db: Database, user_id: int, item_id: UUID, patch: ItemPatch, deadline: Deadline) -> ItemOut:
    """Changes an item's metadata and returns it."""
    fields = patch.model_dump(exclude_unset=True)
    for name in ("title", "item_type", "tags"):
        if name in fields and fields[name] is None:
            raise BadInput(f"'{name}' cannot be null; leave it out to keep it unchanged.")
    async with db.write(deadline) as conn, conn.transaction():
        if not await repo.update_item(conn, user_id=user_id, item_id=item_id, fields=fields):
            raise NotFound(f"No item {item_id} in your library.")
        if fields:
            # Hits carry their item's title and author, and filters read its tags and type: a cached
            # search result of the old revision must not be served.
            await repo.bump_revision(conn, user_id=user_id)
        row = await repo.get_item(conn, user_id=user_id, item_id=item_id)
    assert row is not None
    return ItemOut.model_validate(row)


async def delete_item(*, db: Database, user_id: int, item_id: UUID, deadline: Deadline) -> int:
    """Deletes an item and its chunks; returns how many chunks went with it."""
    async with db.write(deadline) as conn, conn.transaction():
        await repo.lock_library(conn, user_id=user_id)
        if not await repo.soft_delete_item(conn, user_id=user_id, item_id=item_id):
            raise NotFound(f"No item {item_id} in your library.")
        deleted = await repo.delete_item_chunks(conn, user_id=user_id, item_id=item_id)
        await repo.bump_revision(conn, user_id=user_id)
    return deleted


async def get_content(*, db: Database, user_id: int, ids: list[int], deadline: Deadline) -> ContentBatch:
    """Returns many chunks with their items' details in one query (no N+1)."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise BadInput("Pass at least one chunk id: /api/content?ids=12,34")
    if len(unique) > MAX_CONTENT_IDS:
        raise BadInput(f"At most {MAX_CONTENT_IDS} ids per request; split the batch.")
    async with db.read(deadline) as conn:
        rows = await repo.get_chunks(conn, user_id=user_id, ids=unique)
    chunks = [ChunkOut.model_validate(r) for r in rows]
    found = {c.id for c in chunks}
    return ContentBatch(chunks=chunks, missing=[i for i in unique if i not in found])


def _encode_cursor(created_at: datetime, item_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{item_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        ts, _, item = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(ts), UUID(item)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput("The cursor is not one this API returned; start again without it.") from exc
