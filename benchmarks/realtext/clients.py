"""Search clients: one request at a time on a keep-alive connection, and N concurrent closed loops."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx

from tomehub.stress.load import retry_after_s

PATH = "/api/smart-search"


def body(query: str) -> dict[str, Any]:
    # No LLM rephrasings: the search itself (one query embedding, one statement) is what is measured.
    return {"query": query, "expand": False}


@dataclass
class Outcome:
    """What a run of searches gave: latencies of the 200s (ms), their bodies' flags, other statuses."""

    ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    cached: int = 0
    tiers: Counter[int] = field(default_factory=Counter)
    hits: list[list[dict[str, Any]]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses["200"]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def note(self, status: str, ms: float, payload: dict[str, Any] | None, keep_hits: bool) -> None:
        self.statuses[status] += 1
        if payload is None:
            return
        self.ms.append(ms)
        self.cached += bool(payload.get("cached"))
        self.tiers[int(payload["tier"])] += 1
        if keep_hits:
            self.hits.append(list(payload["hits"]))


def sequential(client: httpx.Client, queries: list[str], *, keep_hits: bool = False) -> Outcome:
    """One request at a time; a non-200 is counted by status (its latency is not a search's)."""
    out = Outcome()
    started = time.perf_counter()
    for query in queries:
        t0 = time.perf_counter()
        response = client.post(PATH, json=body(query))
        ms = (time.perf_counter() - t0) * 1000
        ok = response.status_code == 200
        out.note(str(response.status_code), ms, response.json() if ok else None, keep_hits)
        if not ok and keep_hits:
            out.hits.append([])  # keeps hits aligned with the queries for scoring
    out.seconds = time.perf_counter() - started
    return out


# A response as the closed loop needs it: status, body of a 200, the Retry-After header.
Answer = tuple[int, dict[str, Any] | None, str | None]
Post = Callable[[dict[str, Any], dict[str, str]], Awaitable[Answer]]


@asynccontextmanager
async def _httpx_post(base_url: str, clients: int) -> AsyncIterator[tuple[Post, tuple[type[Exception], ...]]]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:

        async def post(json: dict[str, Any], headers: dict[str, str]) -> Answer:
            response = await client.post(PATH, json=json, headers=headers)
            ok = response.status_code == 200
            return response.status_code, response.json() if ok else None, response.headers.get("retry-after")

        yield post, (httpx.HTTPError,)


@asynccontextmanager
async def _aiohttp_post(base_url: str, clients: int) -> AsyncIterator[tuple[Post, tuple[type[Exception], ...]]]:
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def post(json: dict[str, Any], headers: dict[str, str]) -> Answer:
            async with session.post(PATH, json=json, headers=headers) as response:
                ok = response.status == 200
                payload = await response.json() if ok else None
                return response.status, payload, response.headers.get("retry-after")

        yield post, (aiohttp.ClientError, TimeoutError)


# The closed loop's HTTP clients. The loop runs on the server's two cores, so its own CPU is taken from
# the server: httpx spent ~7 ms of CPU a search at 50 clients (stop 33), aiohttp a fraction of that.
CLIENTS = {"aiohttp": _aiohttp_post, "httpx": _httpx_post}


async def closed_loop(
    base_url: str, tokens: list[str], queries: list[str], *, seconds: float, client: str = "aiohttp"
) -> Outcome:
    """One client per token, each sending its next search as soon as the previous answer arrived,
    for ``seconds``; the queries are taken in turn from one shared cycle. Each client is a session
    of its own (its own token: the server holds a credential's requests that come back before a
    refusal's Retry-After, so fifty clients sharing one token would all wait on any one refusal)
    and honours Retry-After as the web app does. 503s are counted, never retried: goodput counts
    200s only. ``client``: the HTTP library (``CLIENTS``)."""
    out = Outcome()
    queue: Iterator[str] = itertools.cycle(queries)
    async with CLIENTS[client](base_url, len(tokens)) as (post, errors):
        ends = time.perf_counter() + seconds

        async def one_client(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.perf_counter() < ends:
                t0 = time.perf_counter()
                try:
                    status, payload, retry_after = await post(body(next(queue)), headers)
                except errors as exc:
                    out.note(type(exc).__name__, 0.0, None, False)
                    continue
                out.note(str(status), (time.perf_counter() - t0) * 1000, payload, False)
                if status == 503:
                    wait_s = retry_after_s(retry_after) or 1.0
                    await asyncio.sleep(min(wait_s, max(0.0, ends - time.perf_counter())))

        started = time.perf_counter()
        await asyncio.gather(*(one_client(token) for token in tokens))
        out.seconds = time.perf_counter() - started
    return out
