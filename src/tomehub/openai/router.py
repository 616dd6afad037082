"""HTTP routes of the OpenAI-compatible endpoint (/v1): what Open WebUI, LibreChat and OpenAI's SDKs
call. Every error of these routes answers in OpenAI's error shape (the auth, rate-limit and
admission middleware do the same for /v1)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sse_starlette import ServerSentEvent
from starlette.exceptions import HTTPException

from tomehub.answer.streaming import answer_stream
from tomehub.auth.deps import CurrentUser
from tomehub.chats.service import ChatService
from tomehub.errors import BadInput, TomehubError, from_http_exception, openai_error_body
from tomehub.library.schemas import error_responses
from tomehub.openai import service
from tomehub.openai.schemas import CompletionIn, CompletionOut, ModelList, ModelOut, OpenAIErrorOut
from tomehub.resources import RequestDeadline
from tomehub.search.schemas import TIER_HEADER

_log = logging.getLogger(__name__)


def _error_response(exc: TomehubError, *, param: str | None = None) -> JSONResponse:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    return JSONResponse(openai_error_body(exc, param=param), status_code=exc.status_code, headers=headers)


class OpenAIRoute(APIRoute):
    """A route whose errors take OpenAI's shape (the app's handlers answer in TomeHub's)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                problems = []
                for err in exc.errors():
                    where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
                    problems.append((where or "body", err.get("msg", "invalid")))
                summary = "; ".join(f"{field}: {message}" for field, message in problems)
                return _error_response(
                    BadInput(f"Invalid request: {summary}"), param=problems[0][0] if problems else None
                )
            except TomehubError as exc:
                return _error_response(exc)
            except HTTPException as exc:
                return _error_response(from_http_exception(exc.status_code, exc.detail))
            except Exception:
                _log.exception("unhandled error on %s %s", request.method, request.url.path)
                return _error_response(TomehubError("Something went wrong on our side; it has been logged."))

        return handle


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Returns the OpenAPI ``responses`` of these error statuses (and every signed-in route's), in OpenAI's shape."""
    return {status: {**doc, "model": OpenAIErrorOut} for status, doc in error_responses(*statuses).items()}


async def get_chats(request: Request) -> ChatService:
    chats: ChatService = request.app.state.chats
    return chats


Chats = Annotated[ChatService, Depends(get_chats)]


def _model_id(request: Request) -> str:
    model_id: str = request.app.state.resources.settings.openai.model
    return model_id


@router.get("/models", response_model=ModelList, responses=openai_error_responses())
async def list_models(request: Request, user: CurrentUser) -> ModelList:
    """Lists the one model: your library."""
    return service.models(_model_id(request))


@router.get("/models/{model_id}", response_model=ModelOut, responses=openai_error_responses(404, 422))
async def get_model(model_id: str, request: Request, user: CurrentUser) -> ModelOut:
    """Returns the model if it is this server's."""
    return service.model(model_id, _model_id(request))


@router.post(
    "/chat/completions",
    response_model=CompletionOut,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE with stream=true."},
        **openai_error_responses(404, 422),
    },
)
async def chat_completions(
    body: CompletionIn, request: Request, user: CurrentUser, chats: Chats, deadline: RequestDeadline
) -> Response:
    """Answers the last user message from your library, the earlier messages as its history
    (system messages are ignored); `[n]` marks cite the `Sources:` list at the end of the text,
    also in `tomehub_citations`."""
    model_id = service.model(body.model, _model_id(request)).id
    history, question = service.conversation(body.messages)
    if body.stream:
        events = chats.reply_events(user_id=user.id, history=history, message=question, filters=None, deadline=deadline)
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return await answer_stream(
            request,
            events,
            lambda answer: _sse(service.completion_chunks(answer, model_id=model_id, include_usage=include_usage)),
        )
    answer = await chats.reply(user_id=user.id, history=history, message=question, filters=None, deadline=deadline)
    out = service.completion(answer, model_id=model_id)
    return JSONResponse(out.model_dump(mode="json"), headers={TIER_HEADER: str(int(answer.tier))})


async def _sse(chunks: AsyncIterator[dict[str, Any] | str]) -> AsyncIterator[ServerSentEvent]:
    # OpenAI's stream: unnamed events whose data is a chunk object, the last one "[DONE]".
    async for chunk in chunks:
        data = chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False, default=str)
        yield ServerSentEvent(data=data)
