"""HTTP routes of ingestion: file uploads, run status, typed items."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile

from tomehub.auth.deps import CurrentUser
from tomehub.errors import BadInput
from tomehub.ingest import accept, service
from tomehub.ingest.archive import safe_name
from tomehub.ingest.schemas import AddItemIn, BatchAccepted, IngestAccepted, RunList, RunOut
from tomehub.ingest.service import IngestQueue, UploadMeta
from tomehub.ingest.upload_body import read_upload_form
from tomehub.ingest.upload_slots import UploadSlots
from tomehub.library.schemas import ItemOut, ItemType, clean_tags, error_responses
from tomehub.resources import AppResources, RequestDeadline
from tomehub.store.originals import Originals
from tomehub.store.text import unstorable

router = APIRouter(prefix="/api", tags=["ingest"])


async def get_queue(request: Request) -> IngestQueue:
    queue: IngestQueue = request.app.state.ingest_queue
    return queue


Queue = Annotated[IngestQueue, Depends(get_queue)]


def _form_body(file_description: str, *fields: str) -> dict[str, Any]:
    """Returns the OpenAPI request body of an upload route (it reads its multipart form itself)."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary", "description": file_description}}
    properties.update({name: {"type": "string"} for name in fields})
    form = {"type": "object", "properties": properties, "required": ["file"]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}}


async def get_upload_slots(request: Request) -> UploadSlots:
    slots: UploadSlots = request.app.state.upload_slots
    return slots


Slots = Annotated[UploadSlots, Depends(get_upload_slots)]


@router.post(
    "/ingest",
    status_code=202,
    response_model=IngestAccepted,
    responses=error_responses(403, 408, 413, 415, 422),
    openapi_extra=_form_body("The document.", "title", "author", "item_type", "tags"),
)
async def ingest_file(
    request: Request,
    user: CurrentUser,
    res: AppResources,
    queue: Queue,
    deadline: RequestDeadline,
    originals: Originals,
    slots: Slots,
) -> IngestAccepted:
    """Uploads one file (multipart field `file`, plus optional `title`, `author`, `item_type`, `tags`)."""
    limits = res.settings.ingest
    async with slots.hold(user.id):
        form = await read_upload_form(
            request, limit=limits.max_upload_bytes, idle_timeout_s=limits.body_read_timeout_s, what="The upload"
        )
        try:
            _check_storable(form.multi_items())
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadInput("Send the document as a multipart form field named 'file'.")
            filename = upload.filename or "upload"
            data = await upload.read(limits.max_upload_bytes + 1)
            meta = UploadMeta(
                title=_text_field(form.get("title"), "title", 500),
                author=_text_field(form.get("author"), "author", 300),
                item_type=_item_type(form.get("item_type")),
                tags=_tags(form.get("tags")),
            )
        finally:
            await form.close()
        return await accept.submit_upload(
            db=res.db,
            queue=queue,
            settings=res.settings,
            user_id=user.id,
            filename=filename,
            data=data,
            meta=meta,
            deadline=deadline,
            originals=originals,
        )


@router.post(
    "/ingest/batch",
    status_code=202,
    response_model=BatchAccepted,
    responses=error_responses(403, 408, 413, 422),
    openapi_extra=_form_body("A zip archive of documents.", "item_type", "tags"),
)
async def ingest_batch(
    request: Request, user: CurrentUser, res: AppResources, queue: Queue, originals: Originals, slots: Slots
) -> BatchAccepted:
    """Uploads a zip of documents (field `file`, plus optional `item_type`, `tags`) as one run.

    The zip is streamed to disk, checked against the batch limits and kept; the answer comes then,
    and a job unpacks it entry by entry (each bad entry is that file's error in the run)."""
    limits = res.settings.ingest
    async with slots.hold(user.id):
        form = await read_upload_form(
            request, limit=limits.max_batch_upload_bytes, idle_timeout_s=limits.body_read_timeout_s, what="The batch"
        )
        try:
            _check_storable(form.multi_items())
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise BadInput("Send the zip archive as a multipart form field named 'file'.")
            label = safe_name(upload.filename or "batch.zip")
            meta = UploadMeta(item_type=_item_type(form.get("item_type")), tags=_tags(form.get("tags")))
            run_id, count = await accept.accept_batch(
                db=res.db,
                queue=queue,
                settings=res.settings,
                user_id=user.id,
                label=label,
                archive=upload.file,
                meta=meta,
                originals=originals,
            )
        finally:
            await form.close()
    return BatchAccepted(run_id=run_id, files=count, status_url=f"/api/ingest/runs/{run_id}")


@router.get("/ingest/runs", response_model=RunList, responses=error_responses(403, 422))
async def list_runs(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    item_id: Annotated[UUID | None, Query(description="Only the runs that ingested this item.")] = None,
    every_user: Annotated[
        bool, Query(alias="all", description="Every user's runs (administrators only; 403 otherwise).")
    ] = False,
) -> RunList:
    """Lists ingestion runs, newest first."""
    return await service.list_runs(
        db=res.db,
        user_id=user.id,
        is_admin=user.is_admin,
        item_id=item_id,
        every_user=every_user,
        limit=limit,
        deadline=deadline,
    )


@router.get("/ingest/runs/{run_id}", response_model=RunOut, responses=error_responses(404, 422))
async def get_run(run_id: UUID, user: CurrentUser, res: AppResources, deadline: RequestDeadline) -> RunOut:
    return await service.get_run(db=res.db, user_id=user.id, run_id=run_id, deadline=deadline)


@router.post("/add-item", status_code=201, response_model=ItemOut, responses=error_responses(403, 413, 422))
async def add_item(
    body: AddItemIn, user: CurrentUser, res: AppResources, queue: Queue, deadline: RequestDeadline
) -> ItemOut:
    """Adds a typed note, highlight (with page) or insight."""
    return await service.add_text_item(
        db=res.db,
        queue=queue,
        embedder=res.embedder,
        settings=res.settings,
        user_id=user.id,
        body=body,
        deadline=deadline,
    )


def _check_storable(fields: list[tuple[str, str | UploadFile]]) -> None:
    # This route reads its own form (the app-wide check in ops/input_text.py sees no body here).
    for name, value in fields:
        text, where = (value.filename or "", f"{name}.filename") if isinstance(value, UploadFile) else (value, name)
        reason = unstorable(text)
        if reason is not None:
            raise BadInput(f"Invalid request: {where}: {reason}")


def _text_field(value: object, name: str, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"'{name}' must be a text field.")
    value = value.strip()
    if len(value) > max_len:
        raise BadInput(f"'{name}' is longer than {max_len} characters.")
    return value or None


def _item_type(value: object) -> ItemType:
    if value is None or value == "":
        return ItemType.BOOK
    try:
        return ItemType(str(value).strip().upper())
    except ValueError as exc:
        raise BadInput(f"'item_type' must be one of {', '.join(t.value for t in ItemType)}.") from exc


def _tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, str):
        raise BadInput("'tags' must be a comma-separated text field.")
    try:
        return tuple(clean_tags(value.split(",")) or ())
    except ValueError as exc:
        raise BadInput(f"'tags': {exc}.") from exc
