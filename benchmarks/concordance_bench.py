"""Concordance benchmark of TomeHub (run by hand, never in CI; prints its figures and writes them as
Markdown). The library is the search benchmark's generated one (``searchbench``: bigram models of
real English and Turkish text, documents of 50 chunks, written through the product's write path).

Run from the repository root::

    .venv/bin/python benchmarks/concordance_bench.py                      # 10k and 100k chunks, 100 terms
    .venv/bin/python benchmarks/concordance_bench.py --sizes 500 --terms 20 --out /tmp/conc.md

Options: ``--sizes 10000,100000`` (cumulative library sizes of one user), ``--terms 100``, ``--limit 50``
(lines per page), ``--database-url URL`` (an existing PostgreSQL with pgvector instead of a fresh
embedded one in a temp dir), ``--keep``, ``--out benchmarks/results/concordance_bench.md``.

What is measured, per term, one after the other on one connection of the app's read pool, after a
warm-up pass over every term:

* the service: ``tomehub.analytics.service.concordance`` for the first page (``--limit`` lines): the
  term's stems per language, the chunks holding them from the postings, the words of the page's chunks
  stemmed by PostgreSQL, the lines cut in Python — everything ``GET /api/analytics/concordance`` does
  but HTTP and auth;
* its main statement bare (``analytics.repo.concordance_chunks``, execute + fetch): the floor of the
  page, since the lines come from the chunks it returns;
* the postings alone (``SELECT u.chunk_id FROM lexeme_postings p CROSS JOIN LATERAL
  unpack_postings(p.chunk_ids, p.tfs) u WHERE p.user_id = ... AND p.lexeme = ANY(...)``): the physical
  floor of finding the chunks — an index range scan over the term's packed blocks, unpacked in SQL,
  nothing read beyond the term's blocks;
* the distribution (``analytics.service.distribution``), which reads every posting of the term.

Terms: words of the generated library at log-spaced frequency ranks (from the most frequent word that is
not a stop word to words found once), as most often written, so the figures cover common and rare
words, English and Turkish; the same terms at every size.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from searchbench import load
from searchbench.corpus import Corpus, init_worker
from searchbench.latency import percentiles
from searchbench.report import CpuWitness, Table, written_report
from searchbench.server import release_workdir
from tomehub.analytics import repo as analytics_repo
from tomehub.analytics import service as analytics
from tomehub.config import Settings
from tomehub.library.analysis import normalize
from tomehub.resilience.deadline import Deadline
from tomehub.store.db import Database
from tomehub.store.embedded import EmbeddedServer, start_embedded
from tomehub.store.migrate import apply_migrations

REPO = Path(__file__).resolve().parents[1]
DIM = 384
SEED = 20240601
CHUNKS_PER_DOC = 50
# Documents whose words the terms are drawn from (their frequencies stand for the library's).
TERM_SAMPLE_DOCS = 20
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")


def progress_line(label: str, total: int) -> Callable[[int], None]:
    started = time.perf_counter()

    def show(done: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"\r  {label}: {done:,}/{total:,} chunks ({rate:,.0f}/s)", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)

    return show


def candidate_terms(corpus: Corpus, uid: str, n: int, docs: int) -> list[str]:
    """Returns up to ``n`` distinct words (as most often written) of the user's first ``docs`` generated
    documents at log-spaced frequency ranks, most frequent first."""
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for number in range(docs):
        doc = corpus.document(uid, number, CHUNKS_PER_DOC)
        for chunk in doc.chunks:
            for word in _WORD.findall(chunk.text):
                if len(word) >= 3 and not word.isdigit():
                    key = word.casefold()
                    counts[key] += 1
                    forms.setdefault(key, Counter())[word] += 1
    ranked = [forms[key].most_common(1)[0][0] for key, _ in counts.most_common()]
    ranks = sorted({round(len(ranked) ** (k / max(1, n - 1))) - 1 for k in range(n)})
    return [ranked[r] for r in ranks]


async def present_terms(db: Database, settings: Settings, user: int, candidates: list[str], n: int) -> list[str]:
    """Returns ``n`` of the candidates, spread evenly, that occur in the library (stop words of every
    language in it have no stems, and so no occurrences, and would measure nothing)."""
    present = []
    for term in candidates:
        dist = await analytics.distribution(
            db=db, settings=settings.analytics, user_id=user, term=term, item_id=None, deadline=Deadline.after(60)
        )
        if dist.total_count:
            present.append(term)
    step = max(1.0, len(present) / n)
    return [present[int(i * step)] for i in range(min(n, len(present)))]


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return (time.perf_counter() - started) * 1000, result


async def measure(db: Database, settings: Settings, user: int, terms: list[str], limit: int) -> Table:
    """Times the four paths for every term (after one warm-up pass) and returns the table."""
    cfg = settings.analytics
    results: dict[str, list[float]] = {"service": [], "statement": [], "postings": [], "distribution": []}
    lines: list[int] = []
    chunks: list[int] = []

    async def one(term: str, record: bool) -> None:
        async with db.read() as conn:
            lexemes = await analytics_repo.term_lexemes(
                conn, user_id=user, q_tr=normalize(term, "turkish"), q_std=normalize(term, "simple")
            )
            pairs = [lexeme for stems in lexemes.values() for lexeme in stems]
            ms_postings, _ = await timed(
                lambda: _fetch(
                    conn,
                    "SELECT u.chunk_id FROM lexeme_postings p"
                    " CROSS JOIN LATERAL unpack_postings(p.chunk_ids, p.tfs) u"
                    " WHERE p.user_id = %s AND p.lexeme = ANY(%s)",
                    (user, pairs),
                )
            )
            ms_statement, _ = await timed(
                lambda: analytics_repo.concordance_chunks(
                    conn, user_id=user, lexemes=lexemes, item_id=None, after=None, limit=limit + 1
                )
            )
        ms_service, page = await timed(
            lambda: analytics.concordance(
                db=db,
                settings=cfg,
                user_id=user,
                term=term,
                item_id=None,
                limit=limit,
                cursor=None,
                deadline=Deadline.after(60),
            )
        )
        ms_distribution, dist = await timed(
            lambda: analytics.distribution(
                db=db, settings=cfg, user_id=user, term=term, item_id=None, deadline=Deadline.after(60)
            )
        )
        if record:
            results["postings"].append(ms_postings)
            results["statement"].append(ms_statement)
            results["service"].append(ms_service)
            results["distribution"].append(ms_distribution)
            lines.append(len(page.lines))
            chunks.append(dist.total_chunks)

    for term in terms:
        await one(term, record=False)
    for term in terms:
        await one(term, record=True)
    stats = {name: percentiles(values) for name, values in results.items()}
    table = Table(
        f"Concordance over {len(terms)} terms, first page of {limit} lines",
        ["path", "p50 ms", "p95 ms", "max ms", "p50 x postings floor"],
    )
    floor = stats["postings"]["p50"]
    rows = (
        ("service: concordance page (lexemes, chunks, stems, lines)", "service"),
        ("its statement bare (concordance_chunks)", "statement"),
        ("floor: the term's postings (block range scan, unpacked)", "postings"),
        ("distribution (every posting of the term)", "distribution"),
    )
    for label, name in rows:
        values = results[name]
        table.add(label, stats[name]["p50"], stats[name]["p95"], max(values), stats[name]["p50"] / floor)
    table.notes.append(
        f"Chunks holding a term: median {statistics.median(chunks):,.0f}, max {max(chunks):,}; "
        f"lines on the first page: median {statistics.median(lines):,.0f}; terms with no occurrence: "
        f"{sum(1 for c in chunks if c == 0)}."
    )
    table.notes.append(
        "Each term: the four paths one after the other, in one process with the database (no HTTP); "
        "nearest-rank percentiles after a warm-up pass over every term."
    )
    return table


async def _fetch(conn: Any, query: str, params: tuple[object, ...]) -> list[Any]:
    cur = await conn.execute(query, params)
    rows: list[Any] = await cur.fetchall()
    return rows


async def library_facts(db: Database, user: int) -> str:
    async with db.write() as conn:
        row = await (
            await conn.execute(
                """
                SELECT s.chunk_count, s.languages,
                       (SELECT count(*) FROM library_items i WHERE i.user_id = s.user_id) AS items,
                       (SELECT coalesce(sum(p.n), 0) FROM lexeme_postings p WHERE p.user_id = s.user_id) AS postings
                FROM library_stats s WHERE s.user_id = %s
                """,
                (user,),
            )
        ).fetchone()
    assert row is not None
    return (
        f"{row['items']:,} items, {row['chunk_count']:,} chunks, {row['postings']:,} postings, "
        f"languages {', '.join(row['languages'])}"
    )


async def run(args: argparse.Namespace, out: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tomehub-conc-bench-"))
    print(f"work dir: {workdir}", file=sys.stderr)
    embedded: EmbeddedServer | None = None
    witness = CpuWitness(str(workdir))
    witness.start()
    url = args.database_url
    try:
        if url is None:
            embedded = start_embedded(workdir / "pg")
            url = embedded.url
        apply_migrations(url)
        settings = Settings.model_validate({"env": "test", "data_dir": workdir / "app", "database_url": url})
        corpus = Corpus(seed=SEED, dim=DIM, passage_tokens=settings.chunking.passage_tokens)
        db = Database(url, settings.database, settings.search)
        await db.open()
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=init_worker,
            initargs=(SEED, DIM, settings.chunking.passage_tokens),
        )
        try:
            async with db.read() as conn:
                version = (await (await conn.execute("SHOW server_version")).fetchone() or {}).get("server_version")
            out.append(f"- PostgreSQL: {version}" + (" (embedded, TomeHub's tuning)" if embedded else " (external)"))
            # Documents are a function of (seed, user, number): a fixed user gives every run on a fresh
            # database the same library and terms; an external database gets a user of its own.
            uid = "bench-concordance" if embedded is not None else f"bench-concordance-{uuid.uuid4().hex[:6]}"
            user = await load.user_id(db, uid)
            first_docs = max(1, args.sizes[0] // CHUNKS_PER_DOC)
            candidates = candidate_terms(corpus, uid, args.terms * 4, min(TERM_SAMPLE_DOCS, first_docs))
            terms: list[str] = []
            space = load.EmbeddingSpace("hashed-bow-384", "bench-1", DIM)
            docs = 0
            for size in args.sizes:
                target = max(1, size // CHUNKS_PER_DOC)
                if target > docs:
                    await load.prefill(
                        db,
                        pool,
                        user=user,
                        uid=uid,
                        numbers=range(docs, target),
                        chunks_per_doc=CHUNKS_PER_DOC,
                        space=space,
                        progress=progress_line(f"fill to {size:,}", (target - docs) * CHUNKS_PER_DOC),
                    )
                    docs = target
                await load.vacuum_analyze(db)
                if not terms:
                    terms = await present_terms(db, settings, user, candidates, args.terms)
                    out.append(f"- Terms ({len(terms)}): {', '.join(terms)}")
                facts = await library_facts(db, user)
                print(f"\nlibrary at {size:,} chunks: {facts}", flush=True)
                table = await measure(db, settings, user, terms, args.limit)
                table.title += f" — {size:,} chunks"
                table.notes.append(f"Library: {facts}.")
                print("\n" + table.text(), flush=True)
                out.append("\n" + table.markdown())
        finally:
            pool.shutdown(cancel_futures=True)
            await db.close()
    finally:
        out.append(f"- Other processes' CPU during the run: {witness.stop()}")
        release_workdir(workdir, embedded, keep=args.keep)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000], help="cumulative sizes, e.g. 10000,100000")
    parser.add_argument("--terms", type=int, default=100)
    parser.add_argument("--limit", type=int, default=50, help="lines per concordance page")
    parser.add_argument("--database-url", default=None, help="an existing PostgreSQL (default: fresh embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, server log)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "concordance_bench.md")
    return parser.parse_args(argv)


def _sizes(text: str) -> list[int]:
    sizes = sorted(int(s.replace("_", "")) for s in text.split(",") if s.strip())
    if not sizes or sizes[0] < CHUNKS_PER_DOC:
        raise argparse.ArgumentTypeError(f"sizes must be at least {CHUNKS_PER_DOC}")
    return sizes


def main() -> None:
    args = parse_args(sys.argv[1:])
    with written_report(
        "TomeHub concordance benchmark", "benchmarks/concordance_bench.py", sys.argv[1:], args.out, REPO
    ) as out:
        asyncio.run(run(args, out))


if __name__ == "__main__":
    main()
