"""The load generator: asyncio + aiohttp, closed-loop users (with think time) or open-loop arrivals.

Every request is recorded as the client saw it; the client gives up at the SLA (6 s by default),
like the report's users, and tells the server so: ``X-TomeHub-Deadline-Ms`` (relative) and
``X-TomeHub-Deadline-At`` (its own deadline as Unix ms, so the server also counts the time the
request spent where it cannot see it). Closed-loop users honour a 503/429's Retry-After as real
clients and the web app do (they wait it out, plus jitter, before their next request); the "retry
storm" clients ignore it and ask again at once. Open-loop arrivals follow a schedule and never wait
for replies, so slow answers cannot hide behind fewer requests (no coordinated omission).

One LoadClient is one asyncio process; pool.py runs several of them for one run. Its HTTP client is
aiohttp: measured against a trivial server (0.2-1 s replies, 100-1,000 users), it spends 0.33-0.39 ms
of CPU per request where httpx spent 1.47 ms at 100 users and failed with read errors from 400 (its
pool scans every connection per request) — at 1,000 users the httpx generator was the bottleneck
(docs/stress-results.md).
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from tomehub.stress.records import Record
from tomehub.stress.selfcheck import Probe, SelfCheck, Verdict

RequestFn = Callable[["LoadClient", int], Coroutine[Any, Any, Record]]
# "honour": wait a shed answer's Retry-After (plus jitter) before the next request; "ignore": a
# failed request (shed, timeout, error) is sent again at once — the reference report's retry storm.
RetryPolicy = Literal["honour", "ignore"]
# A Retry-After longer than this is capped (a user would have left; the run must go on).
MAX_RETRY_AFTER_S = 30.0
# Idle connections are dropped by the client before the server's keep-alive (15 s) closes them: a
# request sent on a connection the server is closing fails, and that race is the client's, not an outage.
_KEEPALIVE_S = 10.0
# Pauses longer than this (a Retry-After, never think time) are slept in slices of it, so a user
# waiting one out stops with its phase.
_LONG_PAUSE_S = 2.0


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def failure(exc: aiohttp.ClientError) -> str:
    """What a failed request's record calls it: refused (no connection), reset (the connection broke
    under the request), else the exception's name."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "refused"
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError
        | aiohttp.ClientConnectionResetError
        | aiohttp.ClientPayloadError
        | aiohttp.ClientOSError,
    ):
        return "reset"
    return exc.__class__.__name__


@dataclass
class LoadClient:
    """Sends requests for the run's users and keeps the records."""

    base_url: str
    tokens: list[str]
    sla_s: float = 6.0
    records: list[Record] = field(default_factory=list)
    phase: str = ""
    # time.monotonic() when the run started: every record's times count from it. CLOCK_MONOTONIC is
    # one clock for the whole machine, so the load processes of a run share the parent's.
    started: float = field(default_factory=time.monotonic)
    max_connections: int = 4000
    # Send X-TomeHub-Deadline-At (needs the client's and the server's clocks in step, e.g. NTP).
    deadline_at: bool = True
    # Retry-After jitter: a user waits Retry-After × (1 + uniform(0, this)).
    retry_jitter: float = 0.5
    checks: SelfCheck = field(default_factory=SelfCheck)
    process: int = 0  # which load process this is (0: the run's parent); stamped on its records

    def __post_init__(self) -> None:
        self._http: aiohttp.ClientSession | None = None
        self._probe: asyncio.Task[None] | None = None
        # Per user: until when its last refusal asked it to stay away (marks records sent early).
        self._not_before: dict[int, float] = {}

    @property
    def http(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp binds it to the running loop)."""
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=_KEEPALIVE_S)
            self._http = aiohttp.ClientSession(
                self.base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=None)
            )
        return self._http

    def now(self) -> float:
        return time.monotonic() - self.started

    def set_phase(self, name: str) -> None:
        self.phase = name

    def senders(self, start: float, end: float) -> set[int]:
        """The load processes that started requests in [start, end)."""
        return {r.process for r in list(self.records) if start <= r.start < end}

    def self_check(self, start: float, end: float) -> Verdict:
        """The self-check over [start, end), judging the processes that sent requests in it."""
        return self.checks.verdict(start, end, self.senders(start, end))

    def start_probe(self, process: int = 0, *, machine: bool = False) -> None:
        """Starts measuring this process's loop lag and CPU (the self-check); call inside the loop."""
        if self._probe is None:
            self._probe = asyncio.create_task(Probe(self.checks, process, self.started, machine=machine).run())

    def headers(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user % len(self.tokens)]}"}

    def deadline_headers(self) -> dict[str, str]:
        """The client's own deadline (the SLA from now), relative and as an instant."""
        headers = {"X-TomeHub-Deadline-Ms": str(round(self.sla_s * 1000))}
        if self.deadline_at:
            headers["X-TomeHub-Deadline-At"] = str(round((time.time() + self.sla_s) * 1000))
        return headers

    async def call(self, kind: str, method: str, path: str, user: int, **kwargs: Any) -> Record:
        """Sends one request (with the client's deadline) and records it; never raises."""
        start = self.now()
        phase = self.phase
        early = start < self._not_before.get(user, -math.inf)
        headers = {**self.headers(user), **self.deadline_headers()}
        try:
            async with asyncio.timeout(self.sla_s), self.http.request(method, path, headers=headers, **kwargs) as resp:
                body = await resp.read()
            tier = resp.headers.get("x-tomehub-tier")
            record = Record(
                start,
                self.now(),
                resp.status,
                kind,
                int(tier) if tier else None,
                len(body),
                None,
                phase,
                resp.headers.get("x-tomehub-degraded"),
                retry_after_s(resp.headers.get("retry-after")) if resp.status in (429, 503) else None,
                self.process,
                early,
                user,
            )
        except TimeoutError:
            record = Record(
                start, self.now(), 0, kind, error="timeout", phase=phase, process=self.process, early=early, user=user
            )
        except aiohttp.ClientError as exc:
            record = Record(
                start,
                self.now(),
                0,
                kind,
                error=failure(exc),
                phase=phase,
                process=self.process,
                early=early,
                user=user,
            )
        if record.retry_after is not None:
            self._not_before[user] = record.end + record.retry_after
        self.records.append(record)
        return record

    async def search(self, user: int, query: str) -> Record:
        return await self.call("search", "POST", "/api/smart-search", user, json={"query": query, "expand": False})

    def pause_after(
        self, record: Record, rng: random.Random, think_s: tuple[float, float], retry: RetryPolicy
    ) -> float:
        """How long a closed-loop user waits before its next request."""
        if retry == "ignore" and not record.ok:
            return 0.0
        pause = rng.uniform(*think_s)
        if retry == "honour" and record.retry_after is not None:
            pause = max(pause, record.retry_after * (1 + rng.uniform(0, self.retry_jitter)))
        return pause

    async def closed_loop(
        self,
        request: RequestFn,
        *,
        users: int | Sequence[int],
        until: Callable[[], bool],
        think_s: tuple[float, float] = (0.5, 1.5),
        retry: RetryPolicy = "honour",
    ) -> None:
        """Runs ``users`` users (a count, or their ids), each sending a request, waiting for it, then
        thinking (or waiting out a Retry-After), until ``until()``."""

        async def user_loop(user: int) -> None:
            rng = random.Random(user)
            await asyncio.sleep(rng.uniform(0, think_s[1]))  # users do not all start in the same instant
            while not until():
                record = await request(self, user)
                pause = self.pause_after(record, rng, think_s, retry)
                if pause <= 0:
                    await asyncio.sleep(0)  # a storming user still lets the others run
                    continue
                if pause <= _LONG_PAUSE_S:
                    await asyncio.sleep(pause)
                    continue
                end = time.monotonic() + pause  # a long Retry-After: ends early when the phase does
                # until() is a plain callable (a clock, a flag another process sets): polled, not awaited.
                while not until() and (left := end - time.monotonic()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(min(left, _LONG_PAUSE_S))

        ids = range(users) if isinstance(users, int) else users
        await asyncio.gather(*(user_loop(u) for u in ids))

    async def open_loop(
        self, request: RequestFn, *, rate_per_s: float, duration_s: float, users: int, first: int = 0, step: int = 1
    ) -> None:
        """Starts requests at ``rate_per_s`` for ``duration_s`` without waiting for replies. With
        ``first``/``step`` this client sends arrivals first, first + step, ... of that schedule (the
        others belong to the run's other load processes)."""
        interval = 1.0 / rate_per_s
        tasks: list[asyncio.Task[Record]] = []
        begin = time.monotonic()
        n = first
        while (elapsed := time.monotonic() - begin) < duration_s:
            due = n * interval
            if due >= duration_s:
                break
            if due > elapsed:
                await asyncio.sleep(due - elapsed)
            tasks.append(asyncio.create_task(request(self, n % users)))
            n += step
        await asyncio.gather(*tasks)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        if self._http is not None:
            await self._http.close()
