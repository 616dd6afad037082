"""Which logs a command writes: servers as configured, commands a person runs only warnings."""

from __future__ import annotations

import pytest

from tomehub.ops.logs import choose_logging


@pytest.mark.parametrize(
    ("configured", "serving", "verbose", "log_format", "expected"),
    [
        # Servers keep the configured JSON lines at the configured level.
        (("INFO", True), True, False, None, ("INFO", True)),
        (("WARNING", False), True, False, None, ("WARNING", False)),
        (("WARNING", True), True, True, None, ("INFO", True)),
        (("INFO", True), True, False, "plain", ("INFO", False)),
        # A person's command: plain warnings, whatever TOMEHUB_LOG_JSON says.
        (("INFO", True), False, False, None, ("WARNING", False)),
        (("DEBUG", True), False, False, None, ("WARNING", False)),
        (("ERROR", True), False, False, None, ("ERROR", False)),
        (("INFO", True), False, False, "plain", ("WARNING", False)),
        # ... and the logs back when asked for: INFO (or the configured level when more verbose).
        (("WARNING", True), False, True, None, ("INFO", False)),
        (("WARNING", False), False, False, "json", ("INFO", True)),
        (("DEBUG", False), False, True, "json", ("DEBUG", True)),
    ],
)
def test_choose_logging(
    configured: tuple[str, bool], serving: bool, verbose: bool, log_format: str | None, expected: tuple[str, bool]
) -> None:
    level, json_logs = configured
    assert (
        choose_logging(level=level, json_logs=json_logs, serving=serving, verbose=verbose, log_format=log_format)
        == expected
    )


def test_http_clients_do_not_log_every_request_at_info() -> None:
    # openai 3 sends through httpx2/httpcore2: left at INFO they log each embedding call of a search.
    import logging

    from tomehub.ops.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger("tomehub.access").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
