"""Health routes (no token needed): liveness, readiness, memory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("")
async def liveness() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str = Field(description="ready, degraded (no Redis, replica or closed breaker) or not_ready.")
    checks: dict[str, Any] = Field(description="Each dependency's state.")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the database does not answer."}},
)
async def readiness(request: Request) -> JSONResponse:
    """Ready when the database answers (503 otherwise). Redis, the queue and the breakers are
    reported: without them TomeHub degrades (local limits, keyword search) rather than stops."""
    runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    try:
        async with runtime.db.read(Deadline.after(2.0)) as conn:
            row = await (
                await conn.execute(
                    "SELECT (SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo') AS todo,"
                    " (SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing') AS doing"
                )
            ).fetchone()
        checks["database"] = "ok"
        checks["queue"] = {"todo": row["todo"], "doing": row["doing"]} if row else "unknown"
    except Exception as exc:
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
        checks["queue"] = "unknown"
    if runtime.db.search_pool is not None:
        checks["search_replica"] = await _replica_check(runtime.db)
    if runtime.redis is not None:
        try:
            await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unavailable (degraded to per-worker state): {exc.__class__.__name__}"
    else:
        checks["redis"] = "not configured"
    statuses = await runtime.llm.gateway.statuses()
    checks["breakers"] = {s.name: s.state.value for s in statuses}
    ready = checks["database"] == "ok"
    degraded = ready and (
        any(s.state.value != "closed" for s in statuses)
        or str(checks["redis"]).startswith("unavailable")
        or str(checks.get("search_replica", "ok")).startswith("unavailable")
    )
    status = "ready" if ready and not degraded else ("degraded" if ready else "not_ready")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


async def _replica_check(db: Database) -> str:
    """The read replica's state: searches go to the primary while it is unreachable."""
    pool = db.search_pool
    assert pool is not None
    try:
        async with pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:
        return f"unavailable (searches read the primary): {exc.__class__.__name__}"
    return "ok"


@router.get("/memory")
async def memory(request: Request) -> dict[str, object]:
    """This worker's resident memory against its soft and hard limits, and its open streams."""
    return {**request.app.state.memory.as_dict(), "streams_open": request.app.state.stream_gate.open}
