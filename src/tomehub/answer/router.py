"""HTTP route of question answering (JSON, or SSE with ``Accept: text/event-stream``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from tomehub.answer.schemas import AnswerOut, AskIn
from tomehub.answer.service import AnswerEvent, AnswerService, Sources
from tomehub.answer.streaming import stream_response
from tomehub.auth.deps import CurrentUser
from tomehub.library.schemas import error_responses
from tomehub.resilience.memory import MemoryState
from tomehub.resilience.streams import StreamGate
from tomehub.resources import RequestDeadline

router = APIRouter(prefix="/api", tags=["answer"])

TIER_HEADER = "X-TomeHub-Tier"


def get_answers(request: Request) -> AnswerService:
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
        gate: StreamGate = request.app.state.stream_gate
        watchdog = request.app.state.memory
        gate.enter(memory_pressure=watchdog.state is not MemoryState.OK)
        try:
            events = answers.events(user_id=user.id, question=body.question, filters=body.filters, deadline=deadline)
            # Retrieval runs before the stream opens, so bad input and overload still get a status code.
            first = await anext(events)
        except BaseException:
            gate.leave()
            raise
        assert isinstance(first, Sources)
        return stream_response(
            _prepend(first, events),
            headers={TIER_HEADER: str(int(first.search.tier))},
            send_timeout_s=request.app.state.resources.settings.server.stream_send_timeout_s,
            on_close=lambda dropped: gate.leave(dropped=dropped),
        )
    result = await answers.answer(user_id=user.id, question=body.question, filters=body.filters, deadline=deadline)
    return JSONResponse(result.model_dump(mode="json"), headers={TIER_HEADER: str(int(result.tier))})


async def _prepend(first: AnswerEvent, rest: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    yield first
    async for event in rest:
        yield event
