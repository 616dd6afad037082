"""Latency runs: the app's search (its two statements plus the numpy BM25 scoring, ``repo.run_search``)
on one connection, and the HTTP API, closed loop."""

from __future__ import annotations

import asyncio
import math
import re
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from psycopg import errors, sql

from tomehub.config import SearchSettings
from tomehub.llm.fake.embedding import hashed_bow
from tomehub.search import repo
from tomehub.search.repo import SearchStatements, search_params
from tomehub.search.schemas import SearchFilters
from tomehub.store.db import Connection, Database


@dataclass(frozen=True)
class Variant:
    """One kind of search: whose library, hybrid or keyword-only, with or without a tag filter."""

    name: str
    uid: str
    user_id: int
    hybrid: bool
    tag: str | None = None

    @property
    def filters(self) -> SearchFilters | None:
        return SearchFilters(tags=[self.tag]) if self.tag else None


@dataclass
class Samples:
    """Latencies (ms) of one run, with what the runs returned; a failed query (statement timeout, 504)
    counts as an infinite latency, so percentiles stay honest."""

    ms: list[float] = field(default_factory=list)
    hits: list[int] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    by_source: dict[str, list[float]] = field(default_factory=dict)
    failures: int = 0
    planned: int = 0

    def add(self, source: str, ms: float, hits: int, server_ms: float | None = None) -> None:
        self.ms.append(ms)
        self.hits.append(hits)
        self.by_source.setdefault(source, []).append(ms)
        if server_ms is not None:
            self.server_ms.append(server_ms)

    def fail(self, source: str) -> None:
        self.failures += 1
        self.add(source, math.inf, 0)

    def record(self, source: str, ms: float | None, hits: int, server_ms: float | None = None) -> None:
        if ms is None:
            self.fail(source)
        else:
            self.add(source, ms, hits, server_ms)

    @property
    def budget_hit(self) -> bool:
        return len(self.ms) < self.planned


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99 (observed values; a failure is +inf) and the mean of the finite ones."""
    if not values:
        return dict.fromkeys(("p50", "p95", "p99", "mean"), math.nan)
    ordered = sorted(values)
    finite = [v for v in ordered if math.isfinite(v)]

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "mean": statistics.fmean(finite or [math.nan])}


class Budget:
    """Stops a run after ``seconds`` (the queries measured by then are reported, and how many)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.ends


def params_for(variant: Variant, query: str, *, dim: int, settings: SearchSettings) -> dict[str, Any]:
    """The search's parameters exactly as ``Searcher.search`` builds them (hashed query vector)."""
    qvec = [float(x) for x in hashed_bow(query, dim)] if variant.hybrid else None
    return search_params(
        user_id=variant.user_id,
        query=query,
        qvec=qvec,
        limit=settings.default_limit,
        filters=variant.filters,
        settings=settings,
    )


async def search(
    conn: Connection, statements: SearchStatements, variant: Variant, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """What the app runs for one search: ``repo.run_search`` (two statements, BM25 scored in numpy)."""
    return await repo.run_search(conn, statements, params, hybrid=variant.hybrid, filtered=variant.filters is not None)


async def search_or_timeout(
    conn: Connection, statements: SearchStatements, variant: Variant, params: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """``search``, or None when a statement hit the statement timeout."""
    try:
        return await search(conn, statements, variant, params)
    except errors.QueryCanceled:
        return None


@dataclass(frozen=True)
class Api:
    """The API under test and the bearer token of the variant's user."""

    base_url: str
    token: str
    expect_tier: int


async def run_paired(
    db: Database,
    statements: SearchStatements,
    variant: Variant,
    queries: list[tuple[str, str]],
    api: Api | None,
    *,
    dim: int,
    settings: SearchSettings,
    warmup: list[tuple[str, str]],
    budget_s: float,
) -> tuple[Samples, Samples | None]:
    """For each query, the bare SQL then the API request, so that background load hits both alike.
    The ``warmup`` queries run first, unmeasured (they are not among ``queries``: the app caches
    results, and a repeated query would be a cache hit).

    SQL: ``repo.run_search`` on one read-pool connection (the app's two statements, execute + fetch,
    plus the numpy BM25 scoring between them; the app's session settings, statement_timeout included),
    parameters built outside the timed region.
    API: POST /api/smart-search from a keep-alive client, one request at a time (closed loop); a 504
    (the request's deadline or the statement timeout) counts as a failure."""
    sql_samples = Samples(planned=len(queries))
    api_samples = Samples(planned=len(queries)) if api else None
    client = _client(api)
    try:
        async with db.read() as conn:
            for phase, measured in (("warm-up", warmup), ("measured", queries)):
                budget = Budget(budget_s)
                for source, text in measured:
                    if budget.spent:
                        break
                    params = params_for(variant, text, dim=dim, settings=settings)
                    started = time.perf_counter()
                    rows = await search_or_timeout(conn, statements, variant, params)
                    elapsed = (time.perf_counter() - started) * 1000
                    if phase == "measured":
                        sql_samples.record(source, elapsed if rows is not None else None, len(rows or []))
                    if client is not None and api is not None:
                        response = await asyncio.to_thread(_timed_post, client, text, variant.tag, api.expect_tier)
                        if phase == "measured" and api_samples is not None:
                            api_samples.record(source, *response)
    finally:
        if client is not None:
            client.close()
    return sql_samples, api_samples


def _client(api: Api | None) -> httpx.Client | None:
    if api is None:
        return None
    return httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {api.token}"}, timeout=30.0)


def _timed_post(
    client: httpx.Client, text: str, tag: str | None, expect_tier: int
) -> tuple[float | None, int, float | None]:
    """Returns (ms or None on a 504, hits, the body's took_ms)."""
    body: dict[str, Any] = {"query": text} if tag is None else {"query": text, "filters": {"tags": [tag]}}
    started = time.perf_counter()
    response = client.post("/api/smart-search", json=body)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code == 504:
        return None, 0, None
    if response.status_code != 200:
        raise RuntimeError(f"smart-search answered {response.status_code}: {response.text[:300]}")
    payload: dict[str, Any] = response.json()
    if int(payload["tier"]) != expect_tier:
        raise RuntimeError(f"expected tier {expect_tier}, got {payload['tier']}")
    return elapsed, len(payload["hits"]), float(payload["took_ms"])


@asynccontextmanager
async def session_settings(conn: Connection, settings: tuple[tuple[str, str], ...]) -> AsyncIterator[None]:
    """SETs session settings on a pooled connection for a block, and RESETs them after."""
    for key, value in settings:
        await conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(key), sql.Literal(value)))
    try:
        yield
    finally:
        for key, _ in settings:
            await conn.execute(sql.SQL("RESET {}").format(sql.Identifier(key)))


class _Recording:
    """A connection that runs each statement executed on it, and records it with its parameters."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[Any, Any]] = []

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self.statements.append((query, params))
        return await self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def _rows_or_timeout(conn: Connection, statement: sql.Composed, params: Any) -> list[dict[str, Any]] | None:
    try:
        return await (await conn.execute(statement, params)).fetchall()
    except errors.QueryCanceled:
        return None


def _composable(query: Any) -> sql.SQL | sql.Composed:
    if isinstance(query, sql.SQL | sql.Composed):
        return query
    return sql.SQL(query.decode() if isinstance(query, bytes | bytearray) else str(query))


async def explain(
    db: Database,
    statements: SearchStatements,
    variant: Variant,
    query: str,
    *,
    dim: int,
    settings: SearchSettings,
    timeout_s: float,
) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement the search runs for one query: the search runs once
    on a connection that records its statements, then each one is explained with the parameters it ran
    with (the second statement's carry what the first returned, scored in numpy). On a read-pool
    connection whose statement timeout is raised to ``timeout_s`` (the plan of a query that timed out is
    still wanted); a statement whose EXPLAIN ANALYZE does not finish gets its plan without ANALYZE.
    Long literals (vectors, packed arrays) are abbreviated."""
    params = params_for(variant, query, dim=dim, settings=settings)
    parts: list[str] = []
    async with db.read() as conn, session_settings(conn, (("statement_timeout", str(int(timeout_s * 1000))),)):
        recording = _Recording(conn)
        started = time.perf_counter()
        try:
            await search(cast(Connection, recording), statements, variant, params)
            parts.append(
                f"(the search: {len(recording.statements)} statement(s), "
                f"{(time.perf_counter() - started) * 1000:.1f} ms in all, numpy scoring included)"
            )
        except errors.QueryCanceled:
            parts.append(f"(the search did not finish within {timeout_s:.0f} s; the statements it had started:)")
        total = len(recording.statements)
        for number, (statement, args) in enumerate(recording.statements, 1):
            text = _composable(statement)
            rows = await _rows_or_timeout(conn, sql.SQL("EXPLAIN (ANALYZE, BUFFERS) ") + text, args)
            header = f"-- statement {number} of {total}"
            if rows is None:
                header += f" (EXPLAIN ANALYZE did not finish within {timeout_s:.0f} s; the plan without ANALYZE)"
                rows = await (await conn.execute(sql.SQL("EXPLAIN ") + text, args)).fetchall()
            parts.append(header + "\n" + "\n".join(str(next(iter(r.values()))) for r in rows))
    plan = "\n\n".join(parts)
    return _LONG_LITERAL.sub("'{…}'", _VECTOR_LITERAL.sub("'[…vector…]'", plan))


_VECTOR_LITERAL = re.compile(r"'\[[-0-9.e,]{100,}\]'")
# Long array and bytea literals in a plan (the lexical candidates passed to the search statement).
_LONG_LITERAL = re.compile(r"'(?:\{[^'\n]{200,}\}|\\x[0-9a-f]{200,})'")


async def postings_touched(db: Database, variant: Variant, queries: list[tuple[str, str]]) -> list[int]:
    """For each query: the postings BM25 unpacks and scores (the query lexemes' postings, summed over
    their packed blocks: the sum of their document frequencies)."""
    out: list[int] = []
    async with db.read() as conn:
        for _, text in queries:
            params = params_for(variant, text, dim=1, settings=SearchSettings())
            cur = await conn.execute(_POSTINGS_SQL, params)
            row = await cur.fetchone()
            out.append(int(row["n"]) if row and row["n"] is not None else 0)
    return out


_POSTINGS_SQL = """
WITH stats AS (SELECT languages FROM library_stats WHERE user_id = %(uid)s),
qlex AS (
    SELECT DISTINCT l.lexeme
    FROM stats s
    CROSS JOIN LATERAL unnest(s.languages) AS cfg
    CROSS JOIN LATERAL unnest(to_tsvector(cfg::regconfig,
                              CASE WHEN cfg = 'turkish' THEN %(q_tr)s ELSE %(q_std)s END)) AS l
)
SELECT sum((SELECT sum(p.n) FROM lexeme_postings p WHERE p.user_id = %(uid)s AND p.lexeme = q.lexeme)) AS n
FROM qlex q
"""
