"""HTTP routes of the library: items, their chunks, tags and batch content."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from tomehub.auth.deps import CurrentUser
from tomehub.errors import BadInput
from tomehub.library import service
from tomehub.library.schemas import (
    BulkDeleteIn,
    BulkDeleteOut,
    ChunkPage,
    ContentBatch,
    ItemOut,
    ItemPage,
    ItemPatch,
    ItemSort,
    ItemStatus,
    ItemType,
    TagList,
    error_responses,
)
from tomehub.resources import AppResources, RequestDeadline

router = APIRouter(prefix="/api", tags=["library"])

# Titles and authors are short; a longer search text is a mistake, not a query.
MAX_QUERY_CHARS = 200


@router.get("/library/items", response_model=ItemPage, responses=error_responses(422))
async def list_items(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page (same sort).")] = None,
    item_type: ItemType | None = None,
    tag: str | None = None,
    status: ItemStatus | None = None,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_CHARS, description="Case-insensitive text to find in the title or author."),
    ] = None,
    sort: ItemSort = ItemSort.NEWEST,
) -> ItemPage:
    """Lists your items a page at a time, filtered and sorted."""
    return await service.list_items(
        db=res.db,
        user_id=user.id,
        limit=limit,
        cursor=cursor,
        item_type=item_type.value if item_type else None,
        tag=tag.strip().lower() if tag else None,
        status=status.value if status else None,
        query=q.strip() if q and q.strip() else None,
        sort=sort.value,
        deadline=deadline,
    )


@router.post("/library/items/delete", response_model=BulkDeleteOut, responses=error_responses(403, 422))
async def delete_items(
    body: BulkDeleteIn, user: CurrentUser, res: AppResources, deadline: RequestDeadline
) -> BulkDeleteOut:
    """Deletes many items (up to 500) with their chunks; ids that are not yours come back as missing."""
    return await service.delete_items(db=res.db, user_id=user.id, item_ids=body.ids, deadline=deadline)


@router.get("/library/tags", response_model=TagList, responses=error_responses())
async def list_tags(user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> TagList:
    """Lists the tags of your items with their counts, most used first."""
    return await service.list_tags(db=res.db, user_id=user.id, deadline=deadline)


@router.get("/library/items/{item_id}", response_model=ItemOut, responses=error_responses(404, 422))
async def get_item(item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> ItemOut:
    return await service.get_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline)


@router.get("/library/items/{item_id}/chunks", response_model=ChunkPage, responses=error_responses(404, 422))
async def get_item_chunks(
    item_id: UUID,
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ChunkPage:
    """Reads an item's chunks in order, a slice at a time."""
    return await service.get_item_chunks(
        db=res.db, user_id=user.id, item_id=item_id, offset=offset, limit=limit, deadline=deadline
    )


@router.patch("/library/items/{item_id}", response_model=ItemOut, responses=error_responses(403, 404, 422))
async def patch_item(
    item_id: UUID, patch: ItemPatch, user: CurrentUser, res: AppResources, deadline: RequestDeadline
) -> ItemOut:
    return await service.update_item(db=res.db, user_id=user.id, item_id=item_id, patch=patch, deadline=deadline)


@router.delete("/library/items/{item_id}", status_code=204, responses=error_responses(403, 404, 422))
async def delete_item(item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> Response:
    await service.delete_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline)
    return Response(status_code=204)


@router.get("/content", response_model=ContentBatch, responses=error_responses(422))
async def get_content(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    ids: Annotated[str, Query(description="Comma-separated chunk ids, at most 200.")],
) -> ContentBatch:
    try:
        parsed = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError as exc:
        raise BadInput("'ids' must be comma-separated integers, e.g. ids=12,34,56.") from exc
    return await service.get_content(db=res.db, user_id=user.id, ids=parsed, deadline=deadline)
