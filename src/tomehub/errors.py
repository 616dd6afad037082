"""TomeHub's error tree. One handler (``tomehub.main``) maps each class to its status and stable code.

::

    TomehubError                      500 internal
    ├── BadInput                      422 bad_input          (a message a person can act on)
    │   ├── UnsupportedMediaType      415 unsupported_type
    │   └── DocumentError             422 document_error     (a file that cannot be ingested)
    │       ├── EncryptedDocument         encrypted_document
    │       ├── CorruptDocument           corrupt_document
    │       ├── EmptyDocument             empty_document
    │       ├── DocumentTooLarge          document_too_large
    │       ├── ParserFailed              parser_failed          (ingest/sandbox.py: the parser's child process)
    │       │   ├── ParserCrashed             parser_crashed
    │       │   ├── ParserTimedOut            parser_timeout
    │       │   └── ParserOutOfMemory         parser_out_of_memory
    │       └── PoisonFile                poison_file            (its worker died on every attempt)
    ├── PayloadTooLarge               413 payload_too_large
    ├── Unauthorized                  401 unauthorized
    ├── Forbidden                     403 forbidden          (CSRF/origin check, closed sign-ups, admins only)
    ├── NotFound                      404 not_found          (missing or another user's)
    ├── Conflict                      409 conflict
    ├── RateLimited                   429 rate_limited       (+ Retry-After)
    ├── Unavailable                   503 unavailable        (+ Retry-After)
    │   ├── PoolExhausted                 pool_exhausted
    │   ├── DatabaseUnavailable           database_unavailable
    │   ├── Shed                          overloaded             (resilience/admission.py)
    │   ├── TooManyStreams                too_many_streams       (resilience/streams.py)
    │   ├── BreakerOpen                   breaker_open           (resilience/breaker.py)
    │   ├── BulkheadFull                  bulkhead_full          (resilience/bulkhead.py)
    │   └── PacedOut                      provider_rate_limited  (resilience/pacing.py)
    ├── DeadlineExceeded              504 deadline_exceeded
    ├── DeploymentMismatch            500 deployment_mismatch    (ops/versions.py; stops start-up)
    └── EmbeddingDimensionMismatch    500 embedding_dimension_mismatch (llm/build.py; stops start-up)

Under ``/v1`` (the OpenAI-compatible endpoint) the same errors keep their status but take OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}``, which OpenAI's clients parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Send


class TomehubError(Exception):
    """Base of every error TomeHub raises on purpose."""

    status_code: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class BadInput(TomehubError):
    status_code = 422
    code = "bad_input"


class UnsupportedMediaType(BadInput):
    status_code = 415
    code = "unsupported_type"


class DocumentError(BadInput):
    """A file that cannot be ingested; it fails its own run and nothing else."""

    code = "document_error"


class EncryptedDocument(DocumentError):
    code = "encrypted_document"


class CorruptDocument(DocumentError):
    code = "corrupt_document"


class EmptyDocument(DocumentError):
    code = "empty_document"


class DocumentTooLarge(DocumentError):
    code = "document_too_large"


class ParserFailed(DocumentError):
    """A file whose parser did not come back from its sandboxed child process."""

    code = "parser_failed"


class ParserCrashed(ParserFailed):
    code = "parser_crashed"


class ParserTimedOut(ParserFailed):
    code = "parser_timeout"


class ParserOutOfMemory(ParserFailed):
    code = "parser_out_of_memory"


class PoisonFile(DocumentError):
    """A file whose worker died (killed, crashed) every time it was processed; it is not tried again."""

    code = "poison_file"


class PayloadTooLarge(TomehubError):
    status_code = 413
    code = "payload_too_large"


class BodyTimeout(TomehubError):
    """An upload whose body stopped arriving (a stalled link, or a slowloris holding a worker)."""

    status_code = 408
    code = "body_timeout"


class Unauthorized(TomehubError):
    status_code = 401
    code = "unauthorized"


class Forbidden(TomehubError):
    """The caller is known but may not do this (a cross-site write, a closed sign-up)."""

    status_code = 403
    code = "forbidden"


class NotFound(TomehubError):
    status_code = 404
    code = "not_found"


class Conflict(TomehubError):
    status_code = 409
    code = "conflict"


class RateLimited(TomehubError):
    status_code = 429
    code = "rate_limited"


class Unavailable(TomehubError):
    status_code = 503
    code = "unavailable"


class PoolExhausted(Unavailable):
    code = "pool_exhausted"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"


class DeadlineExceeded(TomehubError):
    status_code = 504
    code = "deadline_exceeded"


_UNREADABLE_BODY = "The request body could not be read: send UTF-8 JSON (or a form, where the route takes one)."
_BY_STATUS: dict[int, type[TomehubError]] = {
    cls.status_code: cls
    for cls in (PayloadTooLarge, UnsupportedMediaType, Unauthorized, Forbidden, NotFound, Conflict, RateLimited)
}


def from_http_exception(status_code: int, detail: object) -> TomehubError:
    """Returns the TomeHub error for an HTTPException raised by FastAPI or Starlette themselves."""
    if status_code == 400:
        # FastAPI's "error parsing the body" (bytes that are not UTF-8): bad input like any other (422).
        return BadInput(_UNREADABLE_BODY)
    message = detail if isinstance(detail, str) else f"HTTP {status_code}"
    cls = _BY_STATUS.get(status_code)
    if cls is not None:
        return cls(message)
    error = TomehubError(message)
    error.status_code = status_code
    error.code = "method_not_allowed" if status_code == 405 else f"http_{status_code}"
    return error


OPENAI_PREFIX = "/v1/"
# OpenAI's error types by status (what its clients and SDKs expect to find in "type").
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def openai_path(path: str) -> bool:
    """Returns whether ``path`` belongs to the OpenAI-compatible endpoint (errors in OpenAI's shape)."""
    return path.startswith(OPENAI_PREFIX) or path == "/v1"


def openai_error_body(exc: TomehubError, *, param: str | None = None) -> dict[str, object]:
    """Returns ``exc`` in OpenAI's error shape; the code is TomeHub's stable code."""
    status = exc.status_code
    kind = _OPENAI_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": exc.message, "type": kind, "param": param, "code": exc.code}}


async def send_error(
    send: Send, exc: TomehubError, headers: Iterable[tuple[bytes, bytes]] = (), *, openai: bool = False
) -> None:
    """Answers with ``exc`` from pure ASGI middleware (before any route runs), in the same JSON shape
    and status as the app's error handler (OpenAI's shape when ``openai``)."""
    payload = openai_error_body(exc) if openai else {"error": {"code": exc.code, "message": exc.message}}
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
