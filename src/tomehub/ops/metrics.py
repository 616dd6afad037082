"""``GET /metrics`` (Prometheus text format) and ``GET /api/health/circuit-breakers``."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from tomehub.metrics import BREAKER_FAILURE_RATE, BREAKER_STATE, DB_POOL, QUEUE_DEPTH
from tomehub.resilience.breaker import STATE_VALUES, BreakerState, Status
from tomehub.store.db import Database

router = APIRouter(tags=["health"])


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


async def refresh_breaker_gauges(request: Request) -> list[Status]:
    """Reads every breaker (from Redis when shared) and sets the gauges to what it read."""
    statuses: list[Status] = await request.app.state.runtime.llm.gateway.statuses()
    for status in statuses:
        # The gauge maps the enum itself, so a state's spelling can never fall through to 0.
        BREAKER_STATE.labels(status.name).set(STATE_VALUES[BreakerState(status.state)])
        BREAKER_FAILURE_RATE.labels(status.name).set(status.failure_rate)
    return statuses


@router.get("/api/health/circuit-breakers")
async def circuit_breakers(request: Request) -> dict[str, Any]:
    """Each operation's breaker: state, failure rate in its window, when it opened, when it probes next."""
    statuses = await refresh_breaker_gauges(request)
    store = request.app.state.runtime.llm.breaker_store
    return {
        "shared": bool(getattr(store, "shared", False)),
        "breakers": [
            {
                "operation": s.name,
                "state": s.state.value,
                "calls_in_window": s.calls,
                "failures_in_window": s.failures,
                "failure_rate": s.failure_rate,
                "opened_at": _iso(s.opened_at),
                "next_probe_at": _iso(s.next_probe_at),
            }
            for s in statuses
        ],
    }


def refresh_pool_gauges(db: Database) -> None:
    for pool in db.pools:
        stats = pool.get_stats()
        DB_POOL.labels(pool.name, "size").set(stats.get("pool_size", 0))
        DB_POOL.labels(pool.name, "available").set(stats.get("pool_available", 0))
        DB_POOL.labels(pool.name, "waiting").set(stats.get("requests_waiting", 0))


async def sample_pool_gauges(db: Database, every_s: float = 1.0) -> None:
    """Keeps this worker's pool gauges current: /metrics is answered by one worker, which can
    refresh only its own pools, while the figures of every worker are summed."""
    while True:
        refresh_pool_gauges(db)
        await asyncio.sleep(every_s)


async def refresh_pool_and_queue_gauges(request: Request) -> None:
    runtime = request.app.state.runtime
    refresh_pool_gauges(runtime.db)
    try:
        async with runtime.db.read() as conn:
            rows = await (
                await conn.execute(
                    "SELECT status::text AS status, count(*) AS n FROM procrastinate_jobs "
                    "WHERE status IN ('todo', 'doing') GROUP BY status"
                )
            ).fetchall()
    except Exception:  # metrics must render even when the database does not answer
        return
    counts = {r["status"]: r["n"] for r in rows}
    for status in ("todo", "doing"):
        QUEUE_DEPTH.labels(status).set(counts.get(status, 0))


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    await refresh_breaker_gauges(request)
    await refresh_pool_and_queue_gauges(request)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several workers: every worker's figures, summed or kept apart per each metric's mode.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
