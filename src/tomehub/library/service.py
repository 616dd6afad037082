"""Library domain logic: items and their content, always scoped to one user."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tomehub.errors import BadInput, NotFound
from tomehub.library import repo
from tomehub.library.schemas import (
    MAX_BULK_DELETE_IDS,
    BulkDeleteOut,
    ChunkOut,
    ChunkPage,
    ContentBatch,
    ItemOut,
    ItemPage,
    ItemPatch,
    TagCount,
    TagList,
)
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database
from tomehub.store.originals import OriginalStore

MAX_CONTENT_IDS = 200
# A tag cloud, not an export: the long tail of single-use tags stays out of the answer.
MAX_TAGS_LISTED = 500


async def list_items(
    *,
    db: Database,
    user_id: int,
    limit: int,
    cursor: str | None,
    item_type: str | None,
    tag: str | None,
    status: str | None = None,
    query: str | None = None,
    sort: str = "newest",
    deadline: Deadline,
) -> ItemPage:
    """Returns one page of the user's items in the chosen order (newest first by default)."""
    after = _decode_cursor(cursor, sort=sort) if cursor else None
    async with db.read(deadline) as conn:
        rows = await repo.list_items(
            conn,
            user_id=user_id,
            limit=limit + 1,
            order=sort,
            after=after,
            item_type=item_type,
            tag=tag,
            status=status,
            query=query,
        )
    items = [ItemOut.model_validate(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(sort, rows[limit - 1]) if len(rows) > limit else None
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


async def delete_item(
    *, db: Database, user_id: int, item_id: UUID, deadline: Deadline, originals: OriginalStore | None = None
) -> int:
    """Deletes an item and its chunks; returns how many chunks went with it."""
    async with db.write(deadline) as conn, conn.transaction():
        await repo.lock_library(conn, user_id=user_id)
        if not await repo.soft_delete_item(conn, user_id=user_id, item_id=item_id):
            raise NotFound(f"No item {item_id} in your library.")
        deleted = await repo.delete_item_chunks(conn, user_id=user_id, item_id=item_id)
        await repo.bump_revision(conn, user_id=user_id)
    await release_originals(db=db, originals=originals, item_ids=[item_id], deadline=deadline)
    return deleted


async def delete_items(
    *, db: Database, user_id: int, item_ids: list[UUID], deadline: Deadline, originals: OriginalStore | None = None
) -> BulkDeleteOut:
    """Deletes many items and their chunks in one transaction; returns which were deleted and which missing."""
    unique = list(dict.fromkeys(item_ids))
    if len(unique) > MAX_BULK_DELETE_IDS:
        raise BadInput(f"At most {MAX_BULK_DELETE_IDS} ids per request; split the batch.")
    async with db.write(deadline) as conn, conn.transaction():
        await repo.lock_library(conn, user_id=user_id)
        gone = set(await repo.soft_delete_items(conn, user_id=user_id, item_ids=unique))
        if gone:
            await repo.delete_items_chunks(conn, user_id=user_id, item_ids=list(gone))
            await repo.bump_revision(conn, user_id=user_id)
    await release_originals(db=db, originals=originals, item_ids=list(gone), deadline=deadline)
    return BulkDeleteOut(deleted=[i for i in unique if i in gone], missing=[i for i in unique if i not in gone])


async def get_item_chunks(
    *, db: Database, user_id: int, item_id: UUID, offset: int, limit: int, deadline: Deadline
) -> ChunkPage:
    """Returns a slice of an item's chunks in reading order, with the item's chunk total."""
    async with db.read(deadline) as conn:
        rows = await repo.item_chunks(conn, user_id=user_id, item_id=item_id, offset=offset, limit=limit)
    if rows is None:
        raise NotFound(f"No item {item_id} in your library.")
    chunks = [ChunkOut.model_validate(r) for r in rows if r["id"] is not None]
    return ChunkPage(chunks=chunks, total=int(rows[0]["total"]))


async def list_tags(*, db: Database, user_id: int, deadline: Deadline) -> TagList:
    """Returns the tags of the user's items with how many items carry each, most used first."""
    async with db.read(deadline) as conn:
        rows = await repo.tag_counts(conn, user_id=user_id, limit=MAX_TAGS_LISTED)
    return TagList(tags=[TagCount(tag=str(r["tag"]), count=int(r["count"])) for r in rows])


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


def _encode_cursor(sort: str, row: dict[str, Any]) -> str:
    # The cursor names its sort and carries the last row's sort keys and id: opaque to clients, and
    # refused when it is brought back with another sort.
    keys = [row[f"sort_key_{n}"] for n in range(len(repo.ITEM_ORDERS[sort].keys))]
    body = {"sort": sort, "keys": [k.isoformat() if isinstance(k, datetime) else k for k in keys], "id": str(row["id"])}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, *, sort: str) -> tuple[list[Any], UUID]:
    try:
        body = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(body, dict):
            raise ValueError("not an object")
        keys, item_id, cursor_sort = body["keys"], UUID(str(body["id"])), body["sort"]
        spec = repo.ITEM_ORDERS[sort]
        if cursor_sort != sort:
            raise BadInput(
                f"This cursor belongs to sort={cursor_sort}, not sort={sort}; start the {sort} listing without it."
            )
        if not isinstance(keys, list) or len(keys) != len(spec.keys):
            raise ValueError("wrong number of keys")
        values = [_key_value(value, sql_type) for value, (_, sql_type) in zip(keys, spec.keys, strict=True)]
    except BadInput:
        raise
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise BadInput("The cursor is not one this API returned; start again without it.") from exc
    return values, item_id


def _key_value(value: object, sql_type: str) -> object:
    # A tampered cursor must fail here (422), not as a type error inside PostgreSQL (500).
    if sql_type == "timestamptz" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if sql_type == "boolean" and isinstance(value, bool):
        return value
    if sql_type == "text" and isinstance(value, str):
        return value
    raise ValueError(f"a {sql_type} key was expected")


async def release_originals(
    *, db: Database, originals: OriginalStore | None, item_ids: list[UUID], deadline: Deadline
) -> int:
    """Removes the kept originals of deleted items that no live item (of any user) shares; returns how many."""
    if originals is None or not item_ids:
        return 0
    async with db.read(deadline) as conn:
        digests = await repo.file_digests(conn, item_ids=item_ids)
    removed = 0
    for digest in digests:
        # Under the same lock an upload takes to keep a file, so one arriving now cannot lose it.
        async with db.write(deadline) as conn, conn.transaction():
            await repo.lock_original(conn, file_sha256=digest)
            if not await repo.original_in_use(conn, file_sha256=digest):
                await originals.delete(digest)
                removed += 1
    return removed


@dataclass(frozen=True)
class OriginalFile:
    """Where one item's kept original is and how it is served."""

    sha256: str
    size: int
    media_type: str
    filename: str


async def get_original(
    *, db: Database, originals: OriginalStore, user_id: int, item_id: UUID, deadline: Deadline
) -> OriginalFile:
    """Returns the kept original of one of the user's items; NotFound when there is none."""
    async with db.read(deadline) as conn:
        row = await repo.item_file(conn, user_id=user_id, item_id=item_id)
    if row is None:
        raise NotFound(f"No item {item_id} in your library.")
    digest = row["file_sha256"]
    if not digest:
        raise NotFound(f"Item {item_id} has no uploaded file.")
    size = await originals.size(digest)
    if size is None:
        raise NotFound(f"The original file of item {item_id} is not kept (uploaded before files were kept).")
    return OriginalFile(
        sha256=digest,
        size=size,
        media_type=row["source_mime"] or "application/octet-stream",
        filename=row["source_filename"] or f"{item_id}",
    )
