"""The load generator: asyncio + httpx, closed-loop users (with think time) or open-loop arrivals.

Every request is recorded as the client saw it; the client gives up at the SLA (6 s by default),
like the report's users. Open-loop arrivals follow a schedule and never wait for replies, so slow
answers cannot hide behind fewer requests (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from tomehub.stress.records import Record

RequestFn = Callable[["LoadClient", int], Coroutine[Any, Any, Record]]


@dataclass
class LoadClient:
    """Sends requests for the run's users and keeps the records."""

    base_url: str
    tokens: list[str]
    sla_s: float = 6.0
    records: list[Record] = field(default_factory=list)
    phase: str = ""
    started: float = field(default_factory=time.monotonic)
    max_connections: int = 4000

    def __post_init__(self) -> None:
        limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections)
        self.http = httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=httpx.Timeout(self.sla_s + 5))

    def now(self) -> float:
        return time.monotonic() - self.started

    def headers(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user % len(self.tokens)]}"}

    async def call(self, kind: str, method: str, path: str, user: int, **kwargs: Any) -> Record:
        """Sends one request and records it; never raises."""
        start = self.now()
        phase = self.phase
        try:
            resp = await asyncio.wait_for(
                self.http.request(method, path, headers=self.headers(user), **kwargs), self.sla_s
            )
            tier = resp.headers.get("x-tomehub-tier")
            record = Record(
                start,
                self.now(),
                resp.status_code,
                kind,
                int(tier) if tier else None,
                len(resp.content),
                None,
                phase,
                resp.headers.get("x-tomehub-degraded"),
            )
        except TimeoutError:
            record = Record(start, self.now(), 0, kind, error="timeout", phase=phase)
        except httpx.ConnectError:
            record = Record(start, self.now(), 0, kind, error="refused", phase=phase)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            record = Record(start, self.now(), 0, kind, error="reset", phase=phase)
        except httpx.HTTPError as exc:
            record = Record(start, self.now(), 0, kind, error=exc.__class__.__name__, phase=phase)
        self.records.append(record)
        return record

    async def search(self, user: int, query: str) -> Record:
        return await self.call("search", "POST", "/api/smart-search", user, json={"query": query, "expand": False})

    async def closed_loop(
        self, request: RequestFn, *, users: int, until: Callable[[], bool], think_s: tuple[float, float] = (0.5, 1.5)
    ) -> None:
        """Runs ``users`` users, each sending a request, waiting for it, thinking, until ``until()``."""

        async def user_loop(user: int) -> None:
            rng = random.Random(user)
            await asyncio.sleep(rng.uniform(0, think_s[1]))  # users do not all start in the same instant
            while not until():
                await request(self, user)
                await asyncio.sleep(rng.uniform(*think_s))

        await asyncio.gather(*(user_loop(u) for u in range(users)))

    async def open_loop(self, request: RequestFn, *, rate_per_s: float, duration_s: float, users: int) -> None:
        """Starts requests at ``rate_per_s`` for ``duration_s`` without waiting for replies."""
        interval = 1.0 / rate_per_s
        tasks: list[asyncio.Task[Record]] = []
        begin = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - begin) < duration_s:
            due = n * interval
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
            tasks.append(asyncio.create_task(request(self, n % users)))
            n += 1
        await asyncio.gather(*tasks)

    async def close(self) -> None:
        await self.http.aclose()
