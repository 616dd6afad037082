"""Server-sent events for answers (sse-starlette): ``sources``, ``token``…, ``done`` or ``error``;
``reset`` tells the client to discard the tokens so far (a regenerated or replacement answer follows).

sse-starlette sends heartbeat pings and cancels the generator when the client goes away, which stops
the answerer mid-answer: no work continues for a client that left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tomehub.answer.service import AnswerEvent, Done, Reset, Sources, Token
from tomehub.errors import TomehubError
from tomehub.resilience.memory import MemoryState
from tomehub.resilience.streams import StreamGate
from tomehub.search.schemas import TIER_HEADER

_log = logging.getLogger(__name__)

# Keep-alive comments keep proxies from closing a quiet stream.
PING_INTERVAL_S = 15


def _event(name: str, data: Any) -> ServerSentEvent:
    return ServerSentEvent(event=name, data=json.dumps(data, ensure_ascii=False, default=str))


async def sse_events(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[ServerSentEvent]:
    """Translates answer events into SSE events; a failure becomes a final ``error`` event."""
    try:
        async for event in events:
            if isinstance(event, Sources):
                yield _event(
                    "sources",
                    {
                        "tier": int(event.search.tier),
                        "tier_name": event.search.tier_name,
                        "hits": [h.model_dump(mode="json") for h in event.search.hits],
                    },
                )
            elif isinstance(event, Token):
                yield _event("token", {"text": event.text})
            elif isinstance(event, Reset):
                yield _event("reset", {"reason": event.reason})
            elif isinstance(event, Done):
                yield _event("done", event.answer.model_dump(mode="json", exclude={"sources"}))
    except TomehubError as exc:
        yield _event("error", {"code": exc.code, "message": exc.message})
    except Exception:
        _log.exception("answer stream failed")
        yield _event("error", {"code": "internal", "message": "The answer could not be completed."})


class BoundedEventSource(EventSourceResponse):
    """An SSE response for slow clients: each send may wait at most ``send_timeout``; the server's
    flow control keeps at most a socket buffer queued per stream. A client too slow to read is
    dropped with a last ``error`` event (best effort, it may not be reading), the answer's generation
    is cancelled and the stream's slot is freed."""

    def __init__(
        self, content: AsyncIterator[ServerSentEvent], *, on_close: Callable[[bool], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        dropped = False
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            dropped = True
            _log.info("stream dropped: the client read too slowly")
            event = _event("error", {"code": "slow_client", "message": "The client read too slowly; stream closed."})
            with anyio.move_on_after(1.0):
                await send({"type": "http.response.body", "body": event.encode(), "more_body": False})
        finally:
            self._on_close(dropped)


async def answer_stream(
    request: Request,
    events: AsyncIterator[AnswerEvent],
    render: Callable[[AsyncIterator[AnswerEvent]], AsyncIterator[ServerSentEvent]] = sse_events,
) -> EventSourceResponse:
    """Returns the SSE response of an answer under the worker's stream gate (/api/search, chat
    messages, /v1 in its own ``render``). Retrieval, the first event, runs before the stream opens,
    so bad input, a chat not found and overload still get a status code."""
    gate: StreamGate = request.app.state.stream_gate
    gate.enter(memory_pressure=request.app.state.memory.state is not MemoryState.OK)
    try:
        first = await anext(events)
    except BaseException:
        gate.leave()
        raise
    assert isinstance(first, Sources)
    return BoundedEventSource(
        render(_prepend(first, events)),
        ping=PING_INTERVAL_S,
        headers={TIER_HEADER: str(int(first.search.tier))},
        send_timeout=request.app.state.resources.settings.server.stream_send_timeout_s,
        on_close=lambda dropped: gate.leave(dropped=dropped),
    )


async def _prepend(first: AnswerEvent, rest: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    yield first
    async for event in rest:
        yield event
