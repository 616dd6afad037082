"""3 — streaming memory: 40, then 70, then 500 concurrent answer streams to slow readers. Figures:
RSS growth per worker (target <= 150 MB at 500 streams), streams refused, streams dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from tomehub.stress.load import LoadClient, failure
from tomehub.stress.monitor import rss_mb
from tomehub.stress.records import Record
from tomehub.stress.scenarios.base import Context, Outcome, Questions

# Concurrent streams and seconds per step; the last step is the run's --users (500 by default).
STEPS = [(40, 30), (70, 30), (None, 45)]
QUICK_STEPS = [(10, 30), (20, 30), (None, 45)]
# A slow mobile reader: 512 bytes every half second.
READ_BYTES, READ_PAUSE_S = 512, 0.5
# A stream lasts ~14 s at that pace; one still open after this long is counted as failed.
STREAM_TIMEOUT_S = 120.0


async def slow_stream(c: LoadClient, user: int, question: str) -> Record:
    start, phase = c.now(), c.phase
    headers = {**c.headers(user), "Accept": "text/event-stream"}
    received, status, error = 0, 0, None
    try:
        async with (
            asyncio.timeout(STREAM_TIMEOUT_S),
            c.http.post("/api/search", headers=headers, json={"question": question}) as resp,
        ):
            status = resp.status
            async for chunk in resp.content.iter_chunked(READ_BYTES):
                received += len(chunk)
                await asyncio.sleep(READ_PAUSE_S)
    except aiohttp.ClientError as exc:
        error = failure(exc)
    except TimeoutError as exc:
        error = exc.__class__.__name__
    record = Record(start, c.now(), status, "stream", None, received, error, phase)
    c.records.append(record)
    return record


async def streaming_memory(ctx: Context) -> Outcome:
    questions = Questions(seed=5)
    # Long answers: the writer streams a word every 200 ms.
    ctx.deployment.set_faults(chat={"latency_p50_ms": 300, "latency_p95_ms": 600, "token_delay_ms": 200})
    # Growth is measured from each worker's resident memory just before the first stream.
    baseline_rss = {pid: rss_mb(pid) for pid in ctx.monitor.pids}
    for step_users, seconds in QUICK_STEPS if ctx.quick else STEPS:
        users = step_users or ctx.users
        ctx.phase(f"{users} streams")
        over = ctx.for_seconds(seconds)

        async def loop(user: int, over: Callable[[], bool] = over) -> None:
            while not over():
                record = await slow_stream(ctx.client, user, questions.known())
                if record.status != 200:
                    await asyncio.sleep(1.0)

        await asyncio.gather(*(loop(u) for u in range(users)))
    peak = {}
    for pid in ctx.monitor.pids:
        column = [v for v in ctx.monitor.series.values.get(f"rss_mb:{pid}", []) if v == v]
        peak[pid] = max(column) if column else float("nan")
    growth = {pid: peak[pid] - baseline_rss.get(pid, peak[pid]) for pid in peak}
    refused = sum(1 for r in ctx.client.records if r.status == 503)
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "RSS growth per worker (MB)": ", ".join(f"{g:.0f}" for g in growth.values()),
            "max RSS growth (MB, target <= 150)": round(max(growth.values()), 1) if growth else None,
            "streams refused (503)": refused,
        },
        mechanisms={"streams were served": any(r.status == 200 for r in ctx.client.records)},
    )
