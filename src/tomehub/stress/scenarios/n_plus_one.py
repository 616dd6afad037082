"""4 — N+1: 10 users each fetch the details of 100 search hits. The hardened client asks for all of
them in one batch (GET /api/content?ids=...); the baseline client asks one by one, as the
reference system's frontend did. Figures: time to get the details, and the database queries per batch
counted by the server (connections its /api/content requests took from the pools)."""

from __future__ import annotations

import asyncio
import time

import httpx

from tomehub.stress.deployment import ACCOUNTS, control_client
from tomehub.stress.monitor import parse_metrics, total
from tomehub.stress.scenarios.base import Context, Outcome
from tomehub.stress.scenarios.ingestion_peak import make_archive

HITS = 100


async def _content_checkouts(http: httpx.AsyncClient) -> float:
    """Database checkouts made so far by /api/content requests, over every worker."""
    metrics = parse_metrics((await http.get("/metrics")).text)
    return total(metrics, "tomehub_db_checkouts_per_request_sum", 'route="/api/content"')


async def n_plus_one(ctx: Context) -> Outcome:
    ctx.deployment.set_faults(embeddings={"latency_p50_ms": 5, "latency_p95_ms": 10})
    archive = make_archive(120, seed=11)
    accounts = [user % ACCOUNTS for user in range(ctx.users)]
    async with control_client(ctx.deployment.base_url, 600) as http:
        ctx.phase("ingest")
        urls = []
        for account in sorted(set(accounts)):
            resp = await http.post(
                "/api/ingest/batch", headers=ctx.client.headers(account), files={"file": ("b.zip", archive)}
            )
            resp.raise_for_status()
            urls.append((account, resp.json()["status_url"]))
        for account, url in urls:
            while True:
                run = (await http.get(url, headers=ctx.client.headers(account))).json()
                if run["finished_at"] and run["passages_pending_embedding"] == 0:
                    break
                await asyncio.sleep(0.5)
        ctx.phase("search")
        hits: list[list[int]] = []
        for account in accounts:
            resp = await http.post(
                "/api/smart-search", headers=ctx.client.headers(account), json={"query": "document", "limit": HITS}
            )
            resp.raise_for_status()
            hits.append([h["chunk_id"] for h in resp.json()["hits"]])
        batched = ctx.deployment.profile != "baseline"
        ctx.phase("details")
        before = await _content_checkouts(http)
        timings: list[float] = []

        async def details(account: int, ids: list[int]) -> None:
            started = time.perf_counter()
            if batched:
                await ctx.client.call("content", "GET", f"/api/content?ids={','.join(map(str, ids))}", account)
            else:
                await asyncio.gather(
                    *(ctx.client.call("content", "GET", f"/api/content?ids={i}", account) for i in ids)
                )
            timings.append(time.perf_counter() - started)

        await asyncio.gather(*(details(a, ids) for a, ids in zip(accounts, hits, strict=True)))
        checkouts = await _content_checkouts(http) - before
    per_batch = checkouts / len(accounts)
    details_records = [r for r in ctx.client.records if r.phase == "details"]
    return Outcome(
        details_records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "client": "one batch request" if batched else "one request per hit",
            "hits per user": round(sum(map(len, hits)) / len(hits)),
            "database queries per batch of details (server-side; includes a worker's first lookup of the user)": round(
                per_batch, 1
            ),
            "time to fetch the details, slowest user (ms)": round(max(timings) * 1000),
        },
        mechanisms={
            "details fetched": bool(details_records) and all(r.ok for r in details_records),
            # One query for the details; a worker's first request of a user also looks up its id.
            "one query per batch": not batched or per_batch <= 2.0,
        },
    )
