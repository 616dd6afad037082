"""The search: two round trips to the database whatever the number of hits (no N+1).

1. The postings statement (search/keyword.py) brings the query's packed BM25 postings, which numpy
   scores and ranks in this process.
2. The search statement takes the lexical list as arrays and adds the dense kNN list, RRF fusion and
   the hits' chunk and item details.

A filter too broad to list its chunks adds a round trip between them (or a few, when the filter
rejects most of the best candidates): which of the best lexical candidates it allows. Its hybrid
search statement then runs in a transaction that keeps the planner on the HNSW walk (walk_pinned:
BEGIN, one setting, COMMIT around it).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from psycopg import sql

from tomehub.config import SearchSettings
from tomehub.library.analysis import normalize
from tomehub.search.fusion import FUSED_CTE
from tomehub.search.keyword import STATS_CTE, LexicalList, bm25, postings_statement, ranked
from tomehub.search.schemas import SearchFilters
from tomehub.search.vector import dense_ctes
from tomehub.store.db import Connection

_NO_DENSE = """
dense AS (SELECT NULL::bigint AS chunk_id, NULL::float8 AS similarity, NULL::bigint AS rank WHERE false)
"""

# A filtered search starts from the allowed items (a few rows: items, not chunks). Their chunks are
# listed only while there are few of them (at most ALLOWED_LIST_MAX): then numpy keeps only those
# chunks before it takes the lexical top. A broad filter is instead checked on the ranked lexical
# candidates, best first, a slice at a time (_ALLOWED_AMONG): about depth / (share of the library
# allowed) primary-key lookups, and never the whole allowed set.
_ALLOWED_ITEMS_CTE = """
allowed_items AS MATERIALIZED (
    SELECT i.id, i.chunk_count FROM library_items i
    WHERE i.user_id = %(uid)s AND i.deleted_at IS NULL
      AND (%(f_items)s::uuid[] IS NULL OR i.id = ANY(%(f_items)s::uuid[]))
      AND (%(f_types)s::text[] IS NULL OR i.item_type = ANY(%(f_types)s::text[]))
      AND (%(f_tags)s::text[] IS NULL OR i.tags && %(f_tags)s::text[])
)
"""

# Every allowed chunk, read items first (an index-only scan of content_chunks_item_ids): the list of
# a filter narrow enough to list, which numpy keeps the lexical candidates to, and the dense list's
# filter when its passages are scanned exactly (a listed filter, or a small library). A CTE is run
# only when a branch that reads it runs.
_ALLOWED_DENSE_CTE = """
allowed_chunks AS MATERIALIZED (
    SELECT c.id FROM content_chunks c WHERE c.item_id IN (SELECT id FROM allowed_items)
)
"""

# Whether the allowed chunks are few enough to list, from the allowed items' chunk counts (kept at
# write time: no chunk row is read to decide): decided once, by the postings statement, which
# returns the verdict, the count and, if listed, the chunks; the search statement gets the verdict as
# the parameter allowed_listed.
_ALLOWED_CTES = (
    _ALLOWED_ITEMS_CTE
    + """,
allowed_gate AS MATERIALIZED (
    SELECT coalesce(sum(chunk_count), 0) AS chunks, coalesce(sum(chunk_count), 0) <= %(allowed_max)s AS listed
    FROM allowed_items
),"""
    + _ALLOWED_DENSE_CTE
)

# ...and when the HNSW graph is walked (a broad filter on a large library): each passage the index
# yields is checked by its item, which the passage row carries (migration 0018), so the walk stops as
# soon as passage_depth pass (iterative scans) and a check costs no lookup. With the allowed chunks
# as a list instead, the planner scanned and sorted every passage of the user that passed (~150 ms
# at 100,000 chunks for a tag of 11 %); the allowed items as an array (computed once) keep the check
# a per-row filter that the planner cannot turn into a join.
_ALLOWED_PASSAGE = "c.item_id = ANY(ARRAY(SELECT id FROM allowed_items))"

ALLOWED_LIST_MAX = 5000

# The lexical list as numpy ranked it: given as arrays, best first.
_LEXICAL_GIVEN = """
lexical AS (
    SELECT l.chunk_id, l.score, l.rank
    FROM unnest(%(lex_ids)s::bigint[], %(lex_scores)s::float8[]) WITH ORDINALITY AS l(chunk_id, score, rank)
)
"""

# A broad filter's check: which of these lexical candidates (a slice of the ranked list) have an
# allowed item, returned as positions in the slice, best first. A scalar subquery looks each one's
# item up by the chunk's primary key; as a join, PostgreSQL hashed every allowed chunk instead
# (11,400 of them for a tag of 11 % at 100,000 chunks: 3.5 ms for 400 candidates).
_ALLOWED_AMONG = sql.SQL(
    "WITH "
    + _ALLOWED_ITEMS_CTE
    + """
SELECT (l.ord - 1)::int AS pos
FROM unnest(%(candidates)s::bigint[]) WITH ORDINALITY AS l(chunk_id, ord)
WHERE (SELECT c.item_id FROM content_chunks c WHERE c.id = l.chunk_id) IN (SELECT id FROM allowed_items)
ORDER BY l.ord
"""
)

# Each slice of a broad filter's candidates holds the candidates still wanted divided by the share
# of them expected to pass, times this margin: the first slice at the allowed items' share of the
# library's chunks, each next one at the share of the checked candidates that passed (twice the last
# slice while none did). A check costs ~5 µs a candidate at 100,000 chunks, a slice a round trip.
SLICE_MARGIN = 1.5

_SELECT_HITS = """
SELECT f.chunk_id, f.score,
       l.rank AS lexical_rank, l.score AS lexical_score,
       d.rank AS dense_rank, d.similarity AS dense_similarity,
       c.item_id, c.content_type, c.chunk_index, c.text, c.page, c.chapter, c.ocr,
       i.title, i.author, i.item_type, i.tags,
       %(query_lexemes)s::text[] AS query_lexemes,
       %(revision)s::bigint AS revision
FROM fused f
JOIN content_chunks c ON c.id = f.chunk_id
JOIN library_items i ON i.id = c.item_id AND i.deleted_at IS NULL
LEFT JOIN lexical l ON l.chunk_id = f.chunk_id
LEFT JOIN dense d ON d.chunk_id = f.chunk_id
ORDER BY f.score DESC, f.chunk_id
"""


@dataclass(frozen=True)
class DenseSpace:
    """The embedding model whose vectors a query is compared with."""

    model: str
    version: str
    dim: int


def build_statement(*, dense: DenseSpace | None, filtered: bool) -> sql.Composed:
    """Returns the search statement for a (tier, filter) combination; built once and cached by callers."""
    ctes: list[sql.Composable] = [sql.SQL(STATS_CTE)]
    # The lexical list arrives final: filtered already, whether by numpy or by _ALLOWED_AMONG.
    ctes.append(sql.SQL(_LEXICAL_GIVEN))
    if filtered and dense is not None:
        ctes += [sql.SQL(_ALLOWED_ITEMS_CTE), sql.SQL(_ALLOWED_DENSE_CTE)]
        allowed_dense, allowed_walk = "c.chunk_id IN (SELECT id FROM allowed_chunks)", _ALLOWED_PASSAGE
    else:
        allowed_dense = allowed_walk = "TRUE"
    if dense is None:
        ctes.append(sql.SQL(_NO_DENSE))
    else:
        ctes.append(
            dense_ctes(
                model=dense.model,
                version=dense.version,
                dim=dense.dim,
                allowed=allowed_dense,
                allowed_walk=allowed_walk,
                filtered=filtered,
            )
        )
    ctes.append(sql.SQL(FUSED_CTE))
    return sql.Composed([sql.SQL("WITH "), sql.SQL(",\n").join(ctes), sql.SQL(_SELECT_HITS)])


class SearchStatements:
    """The statements of one embedding space, composed once: the postings statement with and
    without a filter, and the search statement per (tier, filter)."""

    def __init__(self, dense: DenseSpace) -> None:
        self._by_key = {
            (hybrid, filtered): build_statement(dense=dense if hybrid else None, filtered=filtered)
            for hybrid in (True, False)
            for filtered in (True, False)
        }
        self._postings = {
            filtered: sql.SQL(postings_statement(allowed_ctes=_ALLOWED_CTES if filtered else None))
            for filtered in (True, False)
        }

    def get(self, *, hybrid: bool, filtered: bool) -> sql.Composed:
        return self._by_key[(hybrid, filtered)]

    def postings(self, *, filtered: bool) -> sql.SQL:
        return self._postings[filtered]


def search_params(
    *,
    user_id: int,
    query: str,
    qvec: list[float] | None,
    limit: int,
    filters: SearchFilters | None,
    settings: SearchSettings,
) -> dict[str, Any]:
    f = filters or SearchFilters()
    # Each list brings at least as many candidates as the page asks for.
    depth = max(settings.candidates_per_list, limit)
    return {
        "uid": user_id,
        "q_tr": normalize(query, "turkish"),
        "q_std": normalize(query, "english"),
        "k1": settings.bm25_k1,
        "b": settings.bm25_b,
        "depth": depth,
        "passage_depth": depth * settings.passages_per_candidate,
        "exact_max": settings.exact_vector_max_passages,
        "qvec": None if qvec is None else "[" + ",".join(f"{x:.7g}" for x in qvec) + "]",
        "rrf_k": settings.rrf_k,
        "w_lex": settings.lexical_weight,
        "w_dense": settings.dense_weight,
        "limit": limit,
        "f_items": [str(i) for i in f.item_ids] if f.item_ids else None,
        "f_types": [t.value for t in f.item_types] if f.item_types else None,
        "f_tags": f.tags or None,
        "allowed_max": ALLOWED_LIST_MAX,
    }


async def run_search(
    conn: Connection, statements: SearchStatements, params: dict[str, Any], *, hybrid: bool, filtered: bool
) -> list[dict[str, Any]]:
    """Runs a search: the query's postings, BM25 in numpy, then the search statement."""
    # The two statements may see different snapshots; a chunk deleted in between has no row to join
    # in the second, so it drops out of the hits rather than showing stale text.
    lexical = await lexical_list(conn, statements, params, filtered=filtered)
    if not lexical.chunk_ids.size and not hybrid:
        return []
    statement = statements.get(hybrid=hybrid, filtered=filtered)
    args = {
        **params,
        "lex_ids": lexical.chunk_ids.tolist(),
        "lex_scores": lexical.scores.tolist(),
        "allowed_listed": lexical.allowed_listed,
        "query_lexemes": lexical.query_lexemes,
        "revision": lexical.revision,
    }
    if hybrid and not lexical.allowed_listed:
        async with walk_pinned(conn):
            return await (await conn.execute(statement, args)).fetchall()
    return await (await conn.execute(statement, args)).fetchall()


# The planner cannot know a broad filter's share before the allowed items are read, so it estimates
# the walk's item check as rejecting 99.5 % of passages; at that share a sequential scan and sort of
# every passage costs about as much as the walk, and which one a plan takes depended on whether the
# statement was prepared: at 100,000 chunks the scan took 180-260 ms where the walk takes 40-60
# (docs/performance.md, stop 22). Within the statement's transaction, neither a sequential scan nor a
# sort may stand in for the index (the sorts the statement cannot do without still run).
_PIN_WALK = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_sort', 'off', true)"


@asynccontextmanager
async def walk_pinned(conn: Connection) -> AsyncIterator[None]:
    """A transaction in which a filtered search statement walks the HNSW index."""
    async with conn.transaction():
        await conn.execute(_PIN_WALK)
        yield


async def lexical_list(
    conn: Connection, statements: SearchStatements, params: dict[str, Any], *, filtered: bool
) -> LexicalList:
    """Returns the BM25 candidates of a search, best first: its top ``depth`` of the allowed chunks."""
    # Binary: the postings arrive as raw bytes (text would hex-encode them, doubling the transfer).
    cur = await conn.execute(statements.postings(filtered=filtered), params, binary=True)
    row = await cur.fetchone()
    if row is None:  # no statistics yet: an empty library
        return LexicalList(np.empty(0, np.int64), np.empty(0, np.float64), [], 0)
    ids, scores = bm25(row, k1=params["k1"], b=params["b"])
    depth = int(params["depth"])
    listed = not filtered or bool(row["allowed_listed"])
    if listed:
        allowed = np.asarray(row["allowed_ids"], dtype=np.int64) if filtered else None
        ids, scores = ranked(ids, scores, depth, allowed)
    else:
        share = int(row["allowed_chunks"]) / float(row["n"])
        ids, scores = await _first_allowed(conn, params, ids, scores, depth, share)
    return LexicalList(ids, scores, list(row["query_lexemes"]), int(row["revision"]), allowed_listed=listed)


async def _first_allowed(
    conn: Connection, params: dict[str, Any], ids: np.ndarray, scores: np.ndarray, depth: int, share: float
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the first ``depth`` of the scored chunks, best first, whose item a broad filter
    allows (``share``: the allowed chunks' share of the library): the ranked candidates are checked
    a slice at a time until enough passed or none is left. Only the candidates checked are sorted."""
    kept: list[np.ndarray] = []
    found, start = 0, 0
    size = max(1, math.ceil(SLICE_MARGIN * depth / max(share, 1e-9)))
    best_ids, best_scores = ids[:0], scores[:0]
    while found < depth and start < len(ids):
        # The best start + size in order; each longer prefix begins with the previous one.
        best_ids, best_scores = ranked(ids, scores, start + size)
        cur = await conn.execute(_ALLOWED_AMONG, {**params, "candidates": best_ids[start:].tolist()})
        positions = np.fromiter((r["pos"] for r in await cur.fetchall()), dtype=np.int64) + start
        kept.append(positions)
        found += len(positions)
        start += size
        size = max(1, math.ceil(SLICE_MARGIN * (depth - found) * start / found)) if found else 2 * size
    chosen = np.concatenate(kept)[:depth] if kept else np.empty(0, np.int64)
    return best_ids[chosen], best_scores[chosen]


async def library_revision(conn: Connection, *, user_id: int) -> int:
    row = await (await conn.execute("SELECT revision FROM library_stats WHERE user_id = %s", (user_id,))).fetchone()
    return int(row["revision"]) if row else 0
