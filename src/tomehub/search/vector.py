"""Dense retrieval: pgvector cosine distance over the passages' vectors of the current embedding
model; a chunk's similarity is that of its best passage ("small-to-big").

Each model has its own partial HNSW index (an expression index over ``embedding::halfvec(dim)`` for
rows of that model), so vectors of different models or dimensions are never compared. The index is
shared by every user, so which search is cheaper depends on the user's share of it:

* exact: a scan of the user's own rows, 1-3 µs a passage (more for vectors stored in TOAST): a
  SciFact search over 24,956 passages took 81 ms this way;
* HNSW with iterative scans: the walk keeps going until ``passage_depth`` rows of this user pass the
  filter, about ``passage_depth / share`` index tuples: 5-7 ms for that library, all of it one
  user's (docs/performance.md, docs/retrieval.md).

A library of up to ``exact_vector_max_passages`` passages is always searched exactly. A larger one
walks the graph unless its share of the index is so small that the walk would visit more tuples than
the user has rows (``passages² ≤ passage_depth × index rows``, the index's row count taken from the
planner's statistics): a small library in a big shared index is searched exactly, and the walk never
stops at ``hnsw.max_scan_tuples`` short of the rows asked for. A filtered search whose allowed chunks
are few enough to list is scanned exactly for the same reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re

from psycopg import sql

from tomehub.store.db import Database

log = logging.getLogger(__name__)

# The walk or the scan, decided once per search: MATERIALIZED keeps it a one-time filter evaluated
# before either branch. reltuples is -1 before the index is first vacuumed or analysed (counted as
# empty, so the graph is walked: the index is young and the user's share of it large).
_DENSE_PLAN = """
dense_plan AS MATERIALIZED (
    SELECT s.passage_count <= %(exact_max)s
           OR s.passage_count::float8 * s.passage_count
              <= %(passage_depth)s * coalesce((SELECT greatest(r.reltuples, 0) FROM pg_class r
                                               WHERE r.oid = to_regclass({index})), 0)
           OR {narrow} AS exact
    FROM stats s
),
"""

# A filtered search whose allowed chunks were few enough to list (the postings statement's verdict,
# passed as the parameter allowed_listed) scans them exactly: a walk would need passage_depth / (the
# filter's share of the index) tuples and could stop at hnsw.max_scan_tuples short of them.
_NARROW_FILTER = "%(allowed_listed)s::boolean"


# The index's layout is part of its name, so a start after a layout change builds the new index and
# then drops the old one (ensure_vector_index). "halfvec": the graph holds half-precision copies of
# the vectors (the table keeps full precision), half the size of a float4 graph, so more of it stays
# in shared buffers, and each distance reads half the bytes (docs/performance.md, stop 20).
_INDEX_LAYOUT = "halfvec"


def index_name(model: str, version: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", f"{model}_{version}".lower()).strip("_")[:30]
    digest = hashlib.sha256(f"{model}\x00{version}\x00{_INDEX_LAYOUT}".encode()).hexdigest()[:8]
    return f"chunk_passages_hnsw_{slug}_{digest}"


def dense_ctes(
    *, model: str, version: str, dim: int, allowed: str, allowed_walk: str | None = None, filtered: bool = False
) -> sql.Composed:
    """Returns the CTEs ``dense_plan`` and ``dense`` (chunk_id, similarity, rank); parameters qvec,
    uid, depth, passage_depth, exact_max. ``allowed`` filters the exact scan's passages on
    ``c.chunk_id``, ``allowed_walk`` (default: the same) the walk's, one passage at a time as the
    index yields them; ``filtered``: the statement has search/repo.py's allowed CTEs and the
    parameter allowed_listed."""
    distance = sql.SQL("c.embedding::vector({dim}) <=> %(qvec)s::vector({dim})").format(dim=sql.Literal(dim))
    # The walk is ordered by the index's half-precision distance; the distance it reports (and the
    # fusion ranks by) is the full-precision one, computed on the few rows the walk returns.
    walk_order = sql.SQL("c.embedding::halfvec({dim}) <=> %(qvec)s::halfvec({dim})").format(dim=sql.Literal(dim))
    own_rows = sql.SQL(
        "c.user_id = %(uid)s AND c.embedding_model = {model} AND c.embedding_version = {version}"
    ).format(model=sql.Literal(model), version=sql.Literal(version))
    # Two branches, one runs (dense_plan). "+ 0" makes the exact branch's ordering unmatchable by the
    # index, forcing the exact scan.
    plan = sql.SQL(_DENSE_PLAN).format(
        index=sql.Literal(index_name(model, version)), narrow=sql.SQL(_NARROW_FILTER if filtered else "FALSE")
    )
    return plan + sql.SQL(
        """
dense_passages AS (
    (SELECT c.chunk_id, {distance} AS distance
       FROM chunk_passages c
      WHERE {own_rows} AND {allowed} AND (SELECT exact FROM dense_plan)
      ORDER BY ({distance}) + 0
      LIMIT %(passage_depth)s)
    UNION ALL
    (SELECT c.chunk_id, {distance} AS distance
       FROM chunk_passages c
      WHERE {own_rows} AND {allowed_walk} AND NOT (SELECT exact FROM dense_plan)
      ORDER BY {walk_order}
      LIMIT %(passage_depth)s)
),
dense AS (
    SELECT chunk_id, 1.0 - min(distance) AS similarity,
           row_number() OVER (ORDER BY min(distance), chunk_id) AS rank
    FROM dense_passages
    GROUP BY chunk_id
    ORDER BY min(distance), chunk_id
    LIMIT %(depth)s
)
"""
    ).format(
        distance=distance,
        walk_order=walk_order,
        own_rows=own_rows,
        allowed=sql.SQL(allowed),
        allowed_walk=sql.SQL(allowed if allowed_walk is None else allowed_walk),
    )


_TRY_INDEX_LOCK = "SELECT pg_try_advisory_lock(hashtext('tomehub:vector-index')) AS locked"
_INVALID_INDEX = "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid"
_INDEX_LOCK_POLL_S = 0.1


def index_definition(*, model: str, version: str, dim: int, build: dict[str, int] | None = None) -> sql.Composed:
    """What follows ``CREATE INDEX <name>`` for a model's vectors: the graph over their half-precision
    copies, of that model's rows only. ``build``: pgvector's build parameters (m, ef_construction),
    its defaults when None (benchmarks/graph_params.py varies them)."""
    options: sql.Composable = sql.SQL("")
    if build:
        options = sql.SQL("WITH ({}) ").format(
            sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in build.items())
        )
    return sql.SQL(
        "ON chunk_passages USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) {options}"
        "WHERE embedding_model = {model} AND embedding_version = {version}"
    ).format(dim=sql.Literal(dim), options=options, model=sql.Literal(model), version=sql.Literal(version))


async def ensure_vector_index(db: Database, *, model: str, version: str, dim: int) -> str:
    """Creates the HNSW index of a model's vectors if it is missing (without blocking writes), and
    drops that model's index of an older layout once the new one is built."""
    name = index_name(model, version)
    statement = sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ").format(
        name=sql.Identifier(name)
    ) + index_definition(model=model, version=version, dim=dim)
    async with db.write() as conn:
        # Workers starting together would otherwise build the same index concurrently (and deadlock).
        # The lock is polled, never waited for: a statement blocked in pg_advisory_lock holds a
        # snapshot, and CREATE INDEX CONCURRENTLY in the lock holder waits for every older snapshot
        # to end, so two workers starting at once would deadlock on each other.
        while True:
            row = await (await conn.execute(_TRY_INDEX_LOCK)).fetchone()
            if row is not None and row["locked"]:
                break
            await asyncio.sleep(_INDEX_LOCK_POLL_S)
        try:
            previous = await (
                await conn.execute(
                    "SELECT index_name FROM embedding_spaces WHERE model = %s AND version = %s", (model, version)
                )
            ).fetchone()
            replaced = previous["index_name"] if previous is not None and previous["index_name"] != name else None
            if replaced is not None:
                log.info("building the %s vector index %s (replaces %s)", _INDEX_LAYOUT, name, replaced)
            # A build interrupted (a start killed mid-way) leaves an invalid index of this name, which
            # IF NOT EXISTS would keep forever and no search can use: it is dropped and built again.
            invalid = await (await conn.execute(_INVALID_INDEX, (name,))).fetchone()
            if invalid is not None:
                log.warning("vector index %s was left unfinished; building it again", name)
                await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
            # A build over a large library outlasts the write statement timeout (a minute per ~200,000
            # passages on two cores); the start waits for it rather than failing.
            await conn.execute("SET statement_timeout = 0")
            try:
                await conn.execute(statement)
            finally:
                await conn.execute("RESET statement_timeout")
            if replaced is not None:
                await conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(replaced)))
            await conn.execute(
                """INSERT INTO embedding_spaces (model, version, dim, index_name) VALUES (%s, %s, %s, %s)
                   ON CONFLICT (model, version) DO UPDATE SET index_name = EXCLUDED.index_name""",
                (model, version, dim, name),
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('tomehub:vector-index'))")
    return name


async def drop_unused_indexes(db: Database, *, keep_model: str, keep_version: str) -> list[str]:
    """Drops the vector indexes of other embedding spaces once no chunk holds their vectors."""
    dropped = []
    async with db.write() as conn:
        rows = await (
            await conn.execute(
                """SELECT s.model, s.version, s.index_name FROM embedding_spaces s
                   WHERE (s.model, s.version) <> (%s, %s)
                     AND NOT EXISTS (SELECT 1 FROM chunk_passages p
                                     WHERE p.embedding_model = s.model AND p.embedding_version = s.version)""",
                (keep_model, keep_version),
            )
        ).fetchall()
        for row in rows:
            await conn.execute(
                sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(row["index_name"]))
            )
            await conn.execute(
                "DELETE FROM embedding_spaces WHERE model = %s AND version = %s", (row["model"], row["version"])
            )
            dropped.append(str(row["index_name"]))
    return dropped
