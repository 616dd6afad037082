"""HTTP routes of the library: items and batch content."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from tomehub.auth.deps import CurrentUser
from tomehub.errors import BadInput
from tomehub.library import service
from tomehub.library.schemas import ContentBatch, ItemOut, ItemPage, ItemPatch, ItemType
from tomehub.resources import AppResources, RequestDeadline

router = APIRouter(prefix="/api", tags=["library"])


@router.get("/library/items", response_model=ItemPage)
async def list_items(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    item_type: ItemType | None = None,
    tag: str | None = None,
) -> ItemPage:
    return await service.list_items(
        db=res.db,
        user_id=user.id,
        limit=limit,
        cursor=cursor,
        item_type=item_type.value if item_type else None,
        tag=tag.strip().lower() if tag else None,
        deadline=deadline,
    )


@router.get("/library/items/{item_id}", response_model=ItemOut)
async def get_item(item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> ItemOut:
    return await service.get_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline)


@router.patch("/library/items/{item_id}", response_model=ItemOut)
async def patch_item(
    item_id: UUID, patch: ItemPatch, user: CurrentUser, res: AppResources, deadline: RequestDeadline
) -> ItemOut:
    return await service.update_item(db=res.db, user_id=user.id, item_id=item_id, patch=patch, deadline=deadline)


@router.delete("/library/items/{item_id}", status_code=204)
async def delete_item(item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> Response:
    await service.delete_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline)
    return Response(status_code=204)


@router.get("/content", response_model=ContentBatch)
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
