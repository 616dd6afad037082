"""Per-request context as pure ASGI middleware: a request id, the deadline, and the access log line."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tomehub.metrics import DB_CHECKOUTS, DEADLINE_LEFT, REQUEST_CHECKOUTS, REQUEST_LATENCY, REQUESTS
from tomehub.resilience.admission import since_arrival
from tomehub.resilience.deadline import Deadline, requested_deadline

_log = logging.getLogger("tomehub.access")

REQUEST_ID_HEADER = b"x-request-id"
# File uploads: their body alone may take minutes on a slow link, so they get their own budget.
UPLOAD_PATHS = ("/api/ingest", "/api/ingest/batch")


def is_upload(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/") in UPLOAD_PATHS


class RequestContextMiddleware:
    """Stamps every HTTP request with an id (echoed in X-Request-Id) and a deadline, and logs it."""

    def __init__(
        self, app: ASGIApp, *, deadline_s: float, upload_deadline_s: float | None = None, enforce: bool = True
    ) -> None:
        self.app = app
        self.deadline_s = deadline_s
        self.upload_deadline_s = upload_deadline_s or deadline_s
        self.enforce = enforce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        budget_s = self.upload_deadline_s if is_upload(scope["method"], scope["path"]) else self.deadline_s
        # Counted from the request's arrival at the edge: a request held there (resilience/tarpit.py)
        # has spent that time of its budget already.
        left_s = requested_deadline(scope, budget_s, since_arrival(scope))
        DEADLINE_LEFT.labels("arrival").observe(left_s)
        deadline = state["deadline"] = Deadline.after(max(0.0, left_s), enforce=self.enforce)
        status = 500
        tier = ""
        checkouts = [0]
        checkouts_token = REQUEST_CHECKOUTS.set(checkouts)

        async def send_with_id(message: Message) -> None:
            nonlocal status, tier
            if message["type"] == "http.response.start":
                status = message["status"]
                DEADLINE_LEFT.labels("answer").observe(deadline.expires_at - deadline.clock())
                headers = list(message.get("headers", []))
                tier = next((v.decode() for k, v in headers if k.lower() == b"x-tomehub-tier"), "")
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_CHECKOUTS.reset(checkouts_token)
            elapsed = time.perf_counter() - started
            route = _route_of(scope)
            REQUESTS.labels(route, str(status), tier).inc()
            REQUEST_LATENCY.labels(route, tier).observe(elapsed)
            DB_CHECKOUTS.labels(route).observe(checkouts[0])
            principal = state.get("principal")
            _log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "user": getattr(principal, "uid", None),
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                    "tier": int(tier) if tier else None,
                },
            )


def _route_of(scope: Scope) -> str:
    """The route's template (``/api/library/items/{item_id}``): bounded label values."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            candidate: str = value.decode("latin-1")[:64]
            if candidate.replace("-", "").isalnum():
                return candidate
    return None
