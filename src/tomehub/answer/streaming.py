"""Server-sent events for answers (sse-starlette): ``sources``, ``token``…, ``done`` or ``error``;
``reset`` tells the client to discard the tokens so far (a regenerated or replacement answer follows).

sse-starlette sends heartbeat pings and cancels the generator when the client goes away, which stops
the answerer mid-answer: no work continues for a client that left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from tomehub.answer.service import AnswerEvent, Done, Reset, Sources, Token
from tomehub.errors import TomehubError

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


def stream_response(events: AsyncIterator[AnswerEvent], *, headers: dict[str, str]) -> EventSourceResponse:
    return EventSourceResponse(sse_events(events), ping=PING_INTERVAL_S, headers=headers)
