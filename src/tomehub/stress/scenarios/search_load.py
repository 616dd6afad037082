"""1a (concurrent search, warm cache) and 1b (cold cache, Redis down): 100 users asking questions."""

from __future__ import annotations

import asyncio

from tomehub.stress.deployment import ACCOUNTS, control_client, normal_provider
from tomehub.stress.monitor import parse_metrics, total
from tomehub.stress.profiles import EMBEDDING_LATENCY
from tomehub.stress.records import summarize
from tomehub.stress.scenarios.base import Context, Outcome, Questions, ask


async def _answer_cache(ctx: Context) -> tuple[float, float]:
    """(hits, lookups) of the answer cache so far, over every worker and layer."""
    async with control_client(ctx.deployment.base_url, 10) as http:
        metrics = parse_metrics((await http.get("/metrics")).text)
    name = "tomehub_cache_requests_total"
    hits = total(metrics, name, 'kind="answer"', 'outcome="hit"') + total(
        metrics, name, 'kind="answer"', 'outcome="stale"'
    )
    return hits, hits + total(metrics, name, 'kind="answer"', 'outcome="miss"')


async def concurrent_search(ctx: Context) -> Outcome:
    questions = Questions(seed=1, pool=6 if ctx.quick else 40)
    normal_provider(ctx.deployment)
    ctx.phase("warm-up")
    # Warm cache: every account has asked every question of the pool once.
    sem = asyncio.Semaphore(20)

    async def warm(account: int, q: str) -> None:
        async with sem:
            await ctx.client.call("ask", "POST", "/api/search", account, json={"question": q})

    await asyncio.gather(*(warm(a, q) for a in range(ACCOUNTS) for q in questions.pool))
    hits_before, lookups_before = await _answer_cache(ctx)
    ctx.phase("load")
    await ctx.client.closed_loop(ask(questions.known), users=ctx.users, until=ctx.for_seconds(90))
    hits, lookups = await _answer_cache(ctx)
    measured = [r for r in ctx.client.records if r.phase == "load"]
    s = summarize(measured)
    hit_rate = (hits - hits_before) / max(1.0, lookups - lookups_before)
    return Outcome(
        measured,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "provider p95 (embeddings, ms)": EMBEDDING_LATENCY["latency_p95_ms"],
            "target p95 (ms): provider p95 + 500": EMBEDDING_LATENCY["latency_p95_ms"] + 500,
            "answer cache hit rate during the load": f"{hit_rate:.1%}",
        },
        mechanisms={"answers served from the cache": hits > hits_before, "no errors": s.errors == 0},
    )


async def cold_cache(ctx: Context) -> Outcome:
    questions = Questions(seed=2)
    normal_provider(ctx.deployment)
    ctx.phase("load")
    await ctx.client.closed_loop(ask(questions.fresh), users=ctx.users, until=ctx.for_seconds(90))
    s = summarize(ctx.client.records)
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        mechanisms={"served without Redis": s.ok > 0, "no errors": s.errors == 0},
    )
