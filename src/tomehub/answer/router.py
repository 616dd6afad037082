"""HTTP route of question answering (JSON, or SSE with ``Accept: text/event-stream``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from tomehub.answer.schemas import AnswerOut, AskIn
from tomehub.answer.service import AnswerService
from tomehub.answer.streaming import answer_stream
from tomehub.auth.deps import CurrentUser
from tomehub.library.schemas import error_responses
from tomehub.resources import RequestDeadline
from tomehub.search.schemas import TIER_HEADER

router = APIRouter(prefix="/api", tags=["answer"])


async def get_answers(request: Request) -> AnswerService:
    answers: AnswerService = request.app.state.answers
    return answers


Answers = Annotated[AnswerService, Depends(get_answers)]


@router.post(
    "/search",
    response_model=AnswerOut,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when asked for."},
        **error_responses(422),
    },
)
async def ask(
    body: AskIn, request: Request, user: CurrentUser, answers: Answers, deadline: RequestDeadline
) -> Response:
    """Answers a question from your library with citations; streams with `Accept: text/event-stream`."""
    if "text/event-stream" in request.headers.get("accept", ""):
        events = answers.events(user_id=user.id, question=body.question, filters=body.filters, deadline=deadline)
        return await answer_stream(request, events)
    result = await answers.answer(user_id=user.id, question=body.question, filters=body.filters, deadline=deadline)
    return JSONResponse(result.model_dump(mode="json"), headers={TIER_HEADER: str(int(result.tier))})
