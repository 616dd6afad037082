"""Memory watchdog (psutil): the reference system's streams grew until the OOM killer reset every
connection. Here a worker watches its own RSS:

* below the soft limit: normal;
* soft limit: new streams and background work (uploads) are refused with 503, interactive requests
  still served;
* hard limit: every new request except health is refused, and the worker asks its process manager
  to recycle it (a graceful SIGTERM: in-flight requests finish, the supervisor starts a fresh worker).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass
from enum import StrEnum

import psutil

from tomehub.metrics import MEMORY_RSS

_log = logging.getLogger(__name__)


class MemoryState(StrEnum):
    OK = "ok"
    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True)
class MemoryLimits:
    soft_bytes: int
    hard_bytes: int
    interval_s: float = 1.0
    # Ask the process manager for a fresh worker at the hard limit (only when one supervises us).
    recycle: bool = False


def classify(rss: int, limits: MemoryLimits) -> MemoryState:
    if rss >= limits.hard_bytes:
        return MemoryState.HARD
    if rss >= limits.soft_bytes:
        return MemoryState.SOFT
    return MemoryState.OK


class MemoryWatchdog:
    def __init__(self, limits: MemoryLimits) -> None:
        self.limits = limits
        self.process = psutil.Process()
        self.rss = self.process.memory_info().rss
        self.state = classify(self.rss, limits)
        self._recycling = False

    def sample(self) -> MemoryState:
        self.rss = self.process.memory_info().rss
        MEMORY_RSS.set(self.rss)
        previous, self.state = self.state, classify(self.rss, self.limits)
        if self.state is not previous:
            _log.warning("memory %s: RSS %.0f MB", self.state.value, self.rss / 1e6)
        if self.state is MemoryState.HARD and self.limits.recycle and not self._recycling:
            self._recycling = True
            _log.error("RSS %.0f MB is over the hard limit; asking for a fresh worker", self.rss / 1e6)
            os.kill(os.getpid(), signal.SIGTERM)
        return self.state

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.limits.interval_s)

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "rss_bytes": self.rss,
            "soft_limit_bytes": self.limits.soft_bytes,
            "hard_limit_bytes": self.limits.hard_bytes,
        }
