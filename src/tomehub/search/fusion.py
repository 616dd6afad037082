"""Reciprocal Rank Fusion: score(d) = sum over lists of weight / (k + rank(d)).

RRF needs no score calibration between BM25 and cosine similarity, only ranks. In SQL it fuses the
lexical and dense lists inside the search statement; ``rrf`` does the same in Python for lists that
come from separate queries.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

FUSED_CTE = """
fused AS (
    SELECT chunk_id, sum(weight / (%(rrf_k)s + rank)) AS score
    FROM (
        SELECT chunk_id, rank, %(w_lex)s::float8 AS weight FROM lexical
        UNION ALL
        SELECT chunk_id, rank, %(w_dense)s::float8 FROM dense
    ) ranked
    GROUP BY chunk_id
    ORDER BY score DESC, chunk_id
    LIMIT %(limit)s
)
"""


def rrf(lists: Sequence[Sequence[K]], *, k: int = 60, weights: Sequence[float] | None = None) -> list[tuple[K, float]]:
    """Returns the keys of ``lists`` ordered by their fused score (ties keep first-seen order)."""
    weights = weights or [1.0] * len(lists)
    if len(weights) != len(lists):
        raise ValueError("one weight per list")
    scores: dict[K, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, key in enumerate(ranked, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])
