"""Lexical retrieval: exact Okapi BM25 over the user's packed postings, scored with numpy.

OR semantics (a chunk matches if it shares any lexeme with the query), IDF from the user's own
document frequencies (``lexeme_df``, kept at write time), length normalisation against the user's
average chunk length. The query is analysed with every text-search configuration the user's library
uses, so a Turkish query meets Turkish stems and an English one English stems.

One statement (``postings_statement``) fetches the statistics, the query's lexemes and every block of
their postings, concatenated by PostgreSQL into three byte strings; ``bm25`` scores every posting at
once and ``ranked`` keeps the best. At 100,000 chunks a 14-word query brings ~60,000-160,000
postings in a few hundred block rows, scored in 2-3 ms, where summing them in SQL took 40-75 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tomehub.library.postings import ID_DTYPE, LEN_DTYPE, TF_DTYPE

# The user's statistics; the search statement reads passage_count and revision from it too.
STATS_CTE = """
stats AS (
    SELECT greatest(chunk_count, 1)::float8 AS n,
           greatest(lexeme_total::float8 / greatest(chunk_count, 1), 1.0) AS avgdl,
           chunk_count,
           passage_count,
           languages,
           revision
    FROM library_stats WHERE user_id = %(uid)s
)
"""

# Parameters: uid, q_tr (query normalised for Turkish), q_std (for every other language). A lexeme
# absent from lexeme_df is in no chunk of the user's. The aggregates read the blocks in one order, so
# dfs[i] and ns[i] describe the i-th block's stretch of the three byte strings.
_POSTINGS = """
qlex AS (
    SELECT DISTINCT l.lexeme
    FROM stats s
    CROSS JOIN LATERAL unnest(s.languages) AS cfg
    CROSS JOIN LATERAL unnest(to_tsvector(cfg::regconfig,
                              CASE WHEN cfg = 'turkish' THEN %(q_tr)s ELSE %(q_std)s END)) AS l
),
qdf AS MATERIALIZED (
    SELECT d.lexeme, d.df FROM qlex q JOIN lexeme_df d ON d.user_id = %(uid)s AND d.lexeme = q.lexeme
)
SELECT s.n, s.avgdl, s.revision,
       ARRAY(SELECT lexeme FROM qlex ORDER BY lexeme) AS query_lexemes,
       b.dfs, b.ns, b.chunk_ids, b.tfs, b.doc_lens{allowed_columns}
FROM stats s
CROSS JOIN LATERAL (
    SELECT array_agg(d.df) AS dfs, array_agg(p.n) AS ns,
           string_agg(p.chunk_ids, ''::bytea) AS chunk_ids,
           string_agg(p.tfs, ''::bytea) AS tfs,
           string_agg(p.doc_lens, ''::bytea) AS doc_lens
    FROM qdf d JOIN lexeme_postings p ON p.user_id = %(uid)s AND p.lexeme = d.lexeme
) b
"""

# A filtered search also learns whether its allowed chunks are few enough to list (search/repo.py's
# allowed CTEs), and if so which: they are then kept in numpy, before the top is taken.
_ALLOWED_COLUMNS = """,
       (SELECT listed FROM allowed_gate) AS allowed_listed,
       (SELECT chunks FROM allowed_gate) AS allowed_chunks,
       CASE WHEN (SELECT listed FROM allowed_gate) THEN ARRAY(SELECT id FROM allowed_chunks) END AS allowed_ids"""


def postings_statement(*, allowed_ctes: str | None) -> str:
    """Returns the statement that fetches the query's postings (with the allowed chunks' CTEs
    ``allowed_ctes`` for a filtered search)."""
    ctes = [STATS_CTE] + ([allowed_ctes] if allowed_ctes else [])
    body = _POSTINGS.replace("{allowed_columns}", _ALLOWED_COLUMNS if allowed_ctes else "")
    return "WITH " + ",\n".join(ctes) + ",\n" + body


@dataclass(frozen=True)
class LexicalList:
    """The lexical candidates, best first, and what the statement around them needs."""

    chunk_ids: np.ndarray
    scores: np.ndarray
    query_lexemes: list[str]
    revision: int
    # Whether the search's filter, if any, allowed few enough chunks to list; the dense list then
    # scans them exactly instead of walking the graph (search/vector.py).
    allowed_listed: bool = True


def bm25(row: dict[str, Any], *, k1: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Returns every matching chunk id and its BM25 score from the postings statement's row."""
    if row["chunk_ids"] is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    ids = np.frombuffer(row["chunk_ids"], dtype=ID_DTYPE).astype(np.int64)
    tf = np.frombuffer(row["tfs"], dtype=TF_DTYPE).astype(np.float64)
    dl = np.frombuffer(row["doc_lens"], dtype=LEN_DTYPE).astype(np.float64)
    df = np.asarray(row["dfs"], dtype=np.float64)
    idf = np.log(1.0 + (float(row["n"]) - df + 0.5) / (df + 0.5))
    weight = np.repeat(idf, np.asarray(row["ns"], dtype=np.int64))
    per_posting = weight * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / float(row["avgdl"])))
    return _sum_per_chunk(ids, per_posting)


# A dense accumulator over the id range is fastest; past this many slots (8 bytes each) the ids are
# sorted instead, so a user whose chunk ids are sparse among many users' costs no memory.
_DENSE_SPAN_MAX = 2_000_000


def _sum_per_chunk(ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo < _DENSE_SPAN_MAX:
        sums = np.bincount(ids - lo, weights=values, minlength=hi - lo + 1)
        # Every posting adds a positive amount (IDF is ln(1 + ...) > 0), so an empty slot is 0.
        slots = np.flatnonzero(sums > 0)
        return slots + lo, sums[slots]
    unique, inverse = np.unique(ids, return_inverse=True)
    return unique, np.bincount(inverse, weights=values)


def ranked(
    ids: np.ndarray, scores: np.ndarray, depth: int | None, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the best ``depth`` chunks (all when None) of the allowed ones, best first, ties to
    the smaller chunk id, as exact BM25 ranks them."""
    if allowed is not None:
        keep = np.isin(ids, allowed)
        ids, scores = ids[keep], scores[keep]
    if depth is not None and len(ids) > depth:
        # Every chunk scoring at least the depth-th best score, so ties at the cut go by chunk id.
        kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]
        head = np.flatnonzero(scores >= kth)
        ids, scores = ids[head], scores[head]
    order = np.lexsort((ids, -scores))
    if depth is not None:
        order = order[:depth]
    return ids[order], scores[order]
