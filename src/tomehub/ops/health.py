"""Health routes (no token needed): liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tomehub.resilience.deadline import Deadline

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("")
async def liveness() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get("/ready")
async def readiness(request: Request) -> JSONResponse:
    """The database answers; 503 otherwise."""
    resources = request.app.state.resources
    checks: dict[str, str] = {}
    try:
        async with resources.db.read(Deadline.after(2.0)) as conn:
            await conn.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {exc.__class__.__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/memory")
async def memory(request: Request) -> dict[str, object]:
    """This worker's resident memory against its soft and hard limits, and its open streams."""
    return {**request.app.state.memory.as_dict(), "streams_open": request.app.state.stream_gate.open}
