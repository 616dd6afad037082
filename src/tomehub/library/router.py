"""HTTP routes of the library: items, their chunks, tags and batch content."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from starlette.responses import FileResponse, StreamingResponse

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
from tomehub.store.originals import Originals

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
    body: BulkDeleteIn, user: CurrentUser, res: AppResources, deadline: RequestDeadline, originals: Originals
) -> BulkDeleteOut:
    """Deletes many items (up to 500) with their chunks; ids that are not yours come back as missing."""
    return await service.delete_items(
        db=res.db, user_id=user.id, item_ids=body.ids, deadline=deadline, originals=originals
    )


@router.get("/library/tags", response_model=TagList, responses=error_responses())
async def list_tags(user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> TagList:
    """Lists the tags of your items with their counts, most used first."""
    return await service.list_tags(db=res.db, user_id=user.id, deadline=deadline)


@router.get("/library/items/{item_id}", response_model=ItemOut, responses=error_responses(404, 422))
async def get_item(item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> ItemOut:
    return await service.get_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline)


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole file.", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    206: {
        "description": "The requested byte range (`Range: bytes=…`).",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    },
    416: {"description": "The range is outside the file; `Content-Range: bytes */size` gives its size."},
    **error_responses(404, 422),
}


@router.get("/library/items/{item_id}/file", response_class=Response, responses=_FILE_RESPONSES)
async def get_item_file(
    item_id: UUID,
    request: Request,
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    originals: Originals,
) -> Response:
    """Streams an item's original file; honours `Range` (206) and `If-Range` (the ETag is its SHA-256)."""
    original = await service.get_original(
        db=res.db, originals=originals, user_id=user.id, item_id=item_id, deadline=deadline
    )
    headers = {
        "etag": f'"{original.sha256}"',
        "content-disposition": f"inline; filename*=UTF-8''{quote(original.filename, safe='')}",
        # An uploaded HTML or SVG file must not run as this site's page: no scripts, no sniffing.
        "content-security-policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        "x-content-type-options": "nosniff",
        "cache-control": "private, max-age=3600",
    }
    path = originals.local_path(original.sha256)
    if path is not None:
        return FileResponse(path, media_type=original.media_type, headers=headers, stat_result=None)
    return _ranged(request, original, originals, headers)


def _ranged(request: Request, original: service.OriginalFile, originals: Any, headers: dict[str, str]) -> Response:
    """Serves one byte range (or the whole file) from a store without local files."""
    size = original.size
    headers["accept-ranges"] = "bytes"
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted and (if_range is None or if_range == headers["etag"]):
        span = _parse_range(wanted, size)
        if span is None:
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        start, end = span
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        headers["content-length"] = str(end - start)
        return StreamingResponse(
            originals.stream(original.sha256, start, end),
            status_code=206,
            media_type=original.media_type,
            headers=headers,
        )
    headers["content-length"] = str(size)
    return StreamingResponse(
        originals.stream(original.sha256, 0, size), media_type=original.media_type, headers=headers
    )


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Returns [start, end) of a single `bytes=` range, or None when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            length = int(last)
            return (max(0, size - length), size) if length > 0 and size > 0 else None
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    return (start, end) if 0 <= start < end else None


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
async def delete_item(
    item_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline, originals: Originals
) -> Response:
    await service.delete_item(db=res.db, user_id=user.id, item_id=item_id, deadline=deadline, originals=originals)
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
