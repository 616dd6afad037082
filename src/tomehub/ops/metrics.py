"""``GET /metrics`` (Prometheus text format) and ``GET /api/health/circuit-breakers``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tomehub.metrics import BREAKER_FAILURE_RATE, BREAKER_STATE
from tomehub.resilience.breaker import STATE_VALUES, BreakerState, Status

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


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    await refresh_breaker_gauges(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
