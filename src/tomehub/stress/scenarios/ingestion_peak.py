"""2b — ingestion and peak search: 50 searchers, idle first, then while 10,000 documents ingest.
The figure: search p95 while ingesting ÷ search p95 idle (target ≤ 1.2)."""

from __future__ import annotations

import io
import random
import zipfile

from tomehub.stress.deployment import control_client, normal_provider
from tomehub.stress.records import percentile
from tomehub.stress.scenarios.base import Context, Outcome, Questions, search

BULK_ACCOUNT = 0


def make_archive(documents: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    words = Questions(seed=seed).words
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(documents):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(150, 350)))
            archive.writestr(f"bulk/doc-{n:05d}.txt", f"Document {n}. {text}.")
    return out.getvalue()


async def ingestion_peak(ctx: Context) -> Outcome:
    documents = 10_000 if not ctx.quick else 300
    questions = Questions(seed=4)
    normal_provider(ctx.deployment)
    archive = make_archive(documents)

    async def searchers(seconds: float) -> None:
        await ctx.client.closed_loop(search(questions.fresh), users=ctx.users, until=ctx.for_seconds(seconds))

    ctx.phase("idle")
    await searchers(60)
    ctx.phase("uploading")
    async with control_client(ctx.deployment.base_url, 600) as http:
        headers = ctx.client.headers(BULK_ACCOUNT)
        resp = await http.post("/api/ingest/batch", headers=headers, files={"file": ("bulk.zip", archive)})
        resp.raise_for_status()
        run_url = resp.json()["status_url"]
        ctx.phase("ingesting")
        await searchers(90)
        run = (await http.get(run_url, headers=headers)).json()
    idle = [r.latency for r in ctx.client.records if r.phase == "idle" and r.ok]
    busy = [r.latency for r in ctx.client.records if r.phase == "ingesting" and r.ok]
    p95_idle, p95_busy = percentile(idle, 95), percentile(busy, 95)
    return Outcome(
        ctx.client.records,
        ctx.monitor.series,
        ctx.phases,
        figures={
            "documents uploaded": documents,
            "files ingested during the search phase": run["files_done"] + run["files_failed"],
            "passages embedded": run["passages_embedded"],
            "search p95 idle (ms)": round(p95_idle * 1000),
            "search p95 ingesting (ms)": round(p95_busy * 1000),
            "ratio (target <= 1.2)": round(p95_busy / p95_idle, 2) if p95_idle else None,
        },
        mechanisms={"ingestion progressed": run["files_done"] > 0},
    )
