"""HTTP routes of chat sessions; a message is answered as JSON, or SSE with ``Accept: text/event-stream``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from tomehub.answer.streaming import answer_stream
from tomehub.auth.deps import CurrentUser
from tomehub.chats.schemas import ChatAnswerOut, ChatDetail, ChatIn, ChatOut, ChatPage, ChatPatch, MessageIn
from tomehub.chats.service import ChatService
from tomehub.library.schemas import error_responses
from tomehub.resources import RequestDeadline
from tomehub.search.schemas import TIER_HEADER

router = APIRouter(prefix="/api", tags=["chats"])

# A search box, not a document: longer texts are a mistake.
MAX_QUERY_CHARS = 200


async def get_chats(request: Request) -> ChatService:
    chats: ChatService = request.app.state.chats
    return chats


Chats = Annotated[ChatService, Depends(get_chats)]


@router.post("/chats", status_code=201, response_model=ChatOut, responses=error_responses(422))
async def create_chat(body: ChatIn, user: CurrentUser, chats: Chats, deadline: RequestDeadline) -> ChatOut:
    """Starts a chat; without a title it is named after its first question."""
    return await chats.create(user_id=user.id, title=body.title, deadline=deadline)


@router.get("/chats", response_model=ChatPage, responses=error_responses(422))
async def list_chats(
    user: CurrentUser,
    chats: Chats,
    deadline: RequestDeadline,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    q: Annotated[
        str | None,
        Query(max_length=MAX_QUERY_CHARS, description="Words to find in titles and messages (prefixes match)."),
    ] = None,
) -> ChatPage:
    """Lists your chats, most recently active first, a page at a time; `q` searches them by text."""
    query = q.strip() if q and q.strip() else None
    return await chats.list(user_id=user.id, limit=limit, cursor=cursor, query=query, deadline=deadline)


@router.get("/chats/{chat_id}", response_model=ChatDetail, responses=error_responses(404, 422))
async def get_chat(chat_id: UUID, user: CurrentUser, chats: Chats, deadline: RequestDeadline) -> ChatDetail:
    """Returns a chat with its messages, oldest first."""
    return await chats.get(user_id=user.id, chat_id=chat_id, deadline=deadline)


@router.patch("/chats/{chat_id}", response_model=ChatOut, responses=error_responses(404, 422))
async def rename_chat(
    chat_id: UUID, body: ChatPatch, user: CurrentUser, chats: Chats, deadline: RequestDeadline
) -> ChatOut:
    """Renames a chat."""
    return await chats.rename(user_id=user.id, chat_id=chat_id, title=body.title, deadline=deadline)


@router.delete("/chats/{chat_id}", status_code=204, responses=error_responses(404, 422))
async def delete_chat(chat_id: UUID, user: CurrentUser, chats: Chats, deadline: RequestDeadline) -> Response:
    """Deletes a chat and its messages."""
    await chats.delete(user_id=user.id, chat_id=chat_id, deadline=deadline)
    return Response(status_code=204)


@router.post(
    "/chats/{chat_id}/messages",
    response_model=ChatAnswerOut,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when asked for."},
        **error_responses(404, 422),
    },
)
async def post_message(
    chat_id: UUID, body: MessageIn, request: Request, user: CurrentUser, chats: Chats, deadline: RequestDeadline
) -> Response:
    """Asks a question in a chat (a follow-up may lean on the earlier turns); answers as /api/search
    does, JSON or SSE with `Accept: text/event-stream`, and stores both. The finished answer carries
    the stored messages' ids."""
    if "text/event-stream" in request.headers.get("accept", ""):
        events = chats.message_events(
            user_id=user.id, chat_id=chat_id, content=body.content, filters=body.filters, deadline=deadline
        )
        return await answer_stream(request, events)
    result = await chats.post_message(
        user_id=user.id, chat_id=chat_id, content=body.content, filters=body.filters, deadline=deadline
    )
    return JSONResponse(result.model_dump(mode="json"), headers={TIER_HEADER: str(int(result.tier))})
