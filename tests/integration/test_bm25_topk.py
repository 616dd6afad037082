"""BM25 as searched equals BM25 computed from scratch: the lexical list of a search (packed postings
scored with numpy, document frequencies read from ``lexeme_df``, filters listed or applied to the
ranked candidates) is compared with a straightforward exact BM25 over the same generated library;
the packed postings and ``lexeme_df`` are checked against the chunks' own tsvectors after inserts,
re-ingestion, deletes and the user's removal."""

from __future__ import annotations

import math
import random
from typing import Any, cast
from uuid import UUID

import pytest

from tests.integration.conftest import TestApp
from tomehub.library import repo as library_repo
from tomehub.library.postings import BLOCK_POSTINGS, PackedBlock
from tomehub.library.repo import NewChunk, NewPassage
from tomehub.library.schemas import ItemType
from tomehub.search import repo as search_repo
from tomehub.search.repo import DenseSpace, SearchStatements, run_search, search_params
from tomehub.search.schemas import SearchFilters
from tomehub.store.db import Connection

# A Zipf-like vocabulary: a few words in most chunks, many rare ones, so lists have very different
# lengths and scores tie now and then (ties go to the smaller chunk id).
WORDS = [
    "river", "bridge", "lantern", "harbour", "stone", "mill", "orchard", "winter", "letter", "ferry",
    "candle", "market", "garden", "tower", "meadow", "anchor", "willow", "copper", "saddle", "thunder",
    "glacier", "falcon", "compass", "velvet", "harvest", "marble", "beacon", "canyon", "ember", "quarry",
]  # fmt: skip
QUERIES = [
    "river bridge",
    "the lantern of the harbour at winter",
    "glacier falcon compass velvet harvest marble beacon canyon ember quarry",
    "river river stone mill orchard",
    "zeppelin",
    "beacon",
]


def _text(rng: random.Random) -> str:
    n = rng.randint(3, 40)
    return " ".join(WORDS[min(int(rng.paretovariate(0.9)) - 1, len(WORDS) - 1)] for _ in range(n))


def _chunks(texts: list[str]) -> list[NewChunk]:
    return [
        NewChunk(
            chunk_index=i,
            text=t,
            content_type="BODY",
            ts_config="english",
            content_hash=f"h{hash(t)}",
            passages=(NewPassage(text=t, content_hash=f"p{hash(t)}"),),
        )
        for i, t in enumerate(texts)
    ]


async def _new_user(conn: Connection, uid: str) -> int:
    row = await (await conn.execute("INSERT INTO users (uid) VALUES (%s) RETURNING id", (uid,))).fetchone()
    assert row is not None
    await conn.execute("INSERT INTO library_stats (user_id) VALUES (%s)", (row["id"],))
    return int(row["id"])


async def _write(conn: Connection, user_id: int, item_id: UUID, texts: list[str]) -> None:
    async with conn.transaction():
        await library_repo.lock_library(conn, user_id=user_id)
        await library_repo.write_chunks(
            conn, user_id=user_id, item_id=item_id, chunks=_chunks(texts), embedding_model="m", embedding_version="1"
        )


async def _library(conn: Connection, uid: str, rng: random.Random) -> tuple[int, list[UUID]]:
    user_id = await _new_user(conn, uid)
    items = []
    for n in range(12):
        item_id = await library_repo.insert_item(
            conn, user_id=user_id, item_type="ARTICLE" if n % 3 else "BOOK", title=f"t{n}", tags=[f"tag{n % 4}"]
        )
        await _write(conn, user_id, item_id, [_text(rng) for _ in range(rng.randint(5, 30))])
        items.append(item_id)
    return user_id, items


async def _df_mismatches(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT coalesce(d.lexeme, p.lexeme) AS lexeme, d.df, p.n
        FROM (SELECT lexeme, df FROM lexeme_df WHERE user_id = %(uid)s) d
        FULL JOIN (SELECT lexeme, sum(n) AS n FROM lexeme_postings WHERE user_id = %(uid)s GROUP BY lexeme) p
          ON p.lexeme = d.lexeme
        WHERE d.df IS DISTINCT FROM p.n
        """,
        {"uid": user_id},
    )
    return await cur.fetchall()


async def _item_count_mismatches(conn: Connection, user_id: int) -> list[dict[str, Any]]:
    """Items whose chunk count (kept at write time) is not the number of their chunks."""
    cur = await conn.execute(
        """
        SELECT i.id, i.chunk_count, (SELECT count(*) FROM content_chunks c WHERE c.item_id = i.id) AS n
        FROM library_items i WHERE i.user_id = %(uid)s
        """,
        {"uid": user_id},
    )
    return [r for r in await cur.fetchall() if r["chunk_count"] != r["n"]]


async def _postings_mismatches(
    conn: Connection, user_id: int, *, packed: bool = False
) -> set[tuple[str, int, int, int]]:
    """The (lexeme, chunk id, tf, chunk length) postings that the packed blocks and the chunks'
    tsvectors disagree on; also checks each block's count and id range and, with ``packed`` (before
    deletes thin the blocks out), that writes filled blocks instead of starting one each."""
    cur = await conn.execute(
        """SELECT c.id, c.lexeme_count, l.lexeme, coalesce(array_length(l.positions, 1), 1) AS tf
           FROM content_chunks c, unnest(c.tsv) l WHERE c.user_id = %s""",
        (user_id,),
    )
    want = {(r["lexeme"], r["id"], r["tf"], r["lexeme_count"]) for r in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT lexeme, block_no, n, min_id, max_id, chunk_ids, tfs, doc_lens FROM lexeme_postings WHERE user_id = %s",
        (user_id,),
    )
    got: set[tuple[str, int, int, int]] = set()
    blocks: dict[str, int] = {}
    for r in await cur.fetchall():
        block = PackedBlock.from_row(r)
        assert (r["n"], r["min_id"], r["max_id"]) == (block.n, block.min_id, block.max_id)
        got |= {
            (r["lexeme"], int(i), int(t), int(d))
            for i, t, d in zip(block.chunk_ids, block.tfs, block.doc_lens, strict=True)
        }
        blocks[r["lexeme"]] = blocks.get(r["lexeme"], 0) + 1
    # A write appends to the last block while it has room, so every block but the last holds more
    # than BLOCK_POSTINGS less one write's postings (at most 40 chunks here).
    postings_per_lexeme: dict[str, int] = {}
    for lexeme, *_ in got:
        postings_per_lexeme[lexeme] = postings_per_lexeme.get(lexeme, 0) + 1
    for lexeme, count in blocks.items():
        assert not packed or count <= postings_per_lexeme[lexeme] // (BLOCK_POSTINGS - 40) + 1, (lexeme, count)
    return want ^ got


async def _exact_bm25(
    conn: Connection, *, user_id: int, query: str, k1: float, b: float, allowed: set[int] | None
) -> list[tuple[float, int]]:
    """(score, chunk id) of every matching chunk, best first, from the chunks' own tsvectors."""
    docs = {
        int(r["id"]): {str(x["lexeme"]): int(x["tf"]) for x in r["terms"]}
        for r in await (
            await conn.execute(
                """SELECT c.id, (SELECT coalesce(json_agg(json_build_object(
                                     'lexeme', l.lexeme, 'tf', coalesce(array_length(l.positions, 1), 1))), '[]')
                                 FROM unnest(c.tsv) l) AS terms
                   FROM content_chunks c WHERE c.user_id = %s""",
                (user_id,),
            )
        ).fetchall()
    }
    q = await (await conn.execute("SELECT tsvector_to_array(to_tsvector('english', %s)) AS l", (query,))).fetchone()
    assert q is not None
    terms = list(q["l"])
    n = len(docs)
    avgdl = max(sum(sum(d.values()) for d in docs.values()) / max(n, 1), 1.0)
    df = {t: sum(1 for d in docs.values() if t in d) for t in terms}
    scored = []
    for chunk_id, doc in docs.items():
        if allowed is not None and chunk_id not in allowed:
            continue
        dl = sum(doc.values())
        score = 0.0
        for t in terms:
            tf = doc.get(t, 0)
            if tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        if score > 0:
            scored.append((score, chunk_id))
    return sorted(scored, key=lambda x: (-round(x[0], 9), x[1]))


async def _searched(
    tapp: TestApp,
    conn: Connection,
    *,
    user_id: int,
    query: str,
    filters: SearchFilters | None,
    allowed_max: int | None = None,
) -> list[tuple[float, int]]:
    settings = tapp.settings.search
    filtered = filters is not None and not filters.is_empty()
    params = search_params(
        user_id=user_id,
        query=query,
        qvec=None,
        limit=settings.candidates_per_list,
        filters=filters,
        settings=settings,
    )
    if allowed_max is not None:
        params["allowed_max"] = allowed_max
    statements = SearchStatements(DenseSpace("m", "1", 8))
    rows = await run_search(conn, statements, params, hybrid=False, filtered=filtered)
    lexical = sorted((r for r in rows if r["lexical_rank"] is not None), key=lambda r: r["lexical_rank"])
    return [(float(r["lexical_score"]), int(r["chunk_id"])) for r in lexical]


def _assert_same_top(got: list[tuple[float, int]], exact: list[tuple[float, int]], depth: int) -> None:
    want = exact[:depth]
    assert [c for _, c in got] == [c for _, c in want]
    for (gs, _), (ws, _) in zip(got, want, strict=True):
        assert math.isclose(gs, ws, rel_tol=1e-9)


async def test_lexical_top_k_equals_exact_bm25_with_and_without_filters(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A broad filter's candidates are checked a slice at a time, each sized from the share expected
    # to pass; with a tiny margin, the searches below take several rounds.
    monkeypatch.setattr(search_repo, "SLICE_MARGIN", 0.05)
    rounds: list[int] = []
    rng = random.Random(12)
    db = tapp.app.state.resources.db
    settings = tapp.settings.search
    depth = settings.candidates_per_list
    async with db.write() as conn:
        user_id, items = await _library(conn, "bm25-topk", rng)
        # Another user's chunks must not move this user's statistics.
        await _library(conn, "bm25-topk-other", rng)
        # Re-ingest one item with half its chunks changed, delete another.
        await _write(conn, user_id, items[1], [_text(rng) for _ in range(9)])
        async with conn.transaction():
            await library_repo.lock_library(conn, user_id=user_id)
            await library_repo.soft_delete_item(conn, user_id=user_id, item_id=items[2])
            await library_repo.delete_item_chunks(conn, user_id=user_id, item_id=items[2])
        chunk_items = {
            int(r["id"]): (UUID(str(r["item_id"])), str(r["item_type"]), list(r["tags"]))
            for r in await (
                await conn.execute(
                    """SELECT c.id, c.item_id, i.item_type, i.tags FROM content_chunks c
                       JOIN library_items i ON i.id = c.item_id WHERE c.user_id = %s""",
                    (user_id,),
                )
            ).fetchall()
        }
        cases: list[tuple[SearchFilters | None, set[int] | None]] = [
            (None, None),
            (SearchFilters(tags=["tag1"]), {c for c, (_, _, tags) in chunk_items.items() if "tag1" in tags}),
            (SearchFilters(item_types=[ItemType.BOOK]), {c for c, (_, t, _) in chunk_items.items() if t == "BOOK"}),
            (SearchFilters(item_ids=[items[3], items[5]]), {c for c, (i, _, _) in chunk_items.items() if i in items[3:6:2]}),
            (SearchFilters(tags=["tag0"], item_types=[ItemType.ARTICLE]),
             {c for c, (_, t, tags) in chunk_items.items() if "tag0" in tags and t == "ARTICLE"}),
        ]  # fmt: skip
        checked = 0
        for query in QUERIES:
            for filters, allowed in cases:
                exact = await _exact_bm25(
                    conn, user_id=user_id, query=query, k1=settings.bm25_k1, b=settings.bm25_b, allowed=allowed
                )
                got = await _searched(tapp, conn, user_id=user_id, query=query, filters=filters)
                _assert_same_top(got, exact, depth)
                checked += len(got)
                if filters is not None:
                    # The same filter as a broad one (its chunks not listed, the predicate checked
                    # on the ranked candidates).
                    counting = _CountingChecks(conn)
                    broad = await _searched(
                        tapp, cast(Connection, counting), user_id=user_id, query=query, filters=filters, allowed_max=3
                    )
                    _assert_same_top(broad, exact, depth)
                    rounds.append(counting.checks)
        assert checked > 200  # the cases are not vacuous
        assert max(rounds) >= 2, rounds  # later slices were exercised


class _CountingChecks:
    """A connection that counts a broad filter's candidate checks."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.checks = 0

    async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if query is search_repo._ALLOWED_AMONG:
            self.checks += 1
        return await self.conn.execute(query, params, **kwargs)


async def test_postings_and_document_frequencies_follow_every_write(tapp: TestApp) -> None:
    rng = random.Random(7)
    db = tapp.app.state.resources.db
    async with db.write() as conn:
        user_id, items = await _library(conn, "df-writes", rng)
        # More writes of the same words, so that lists outgrow a block.
        for item_id in items[8:]:
            for _ in range(3):
                await _write(conn, user_id, item_id, [_text(rng) for _ in range(rng.randint(20, 40))])
        assert await _df_mismatches(conn, user_id) == []
        assert await _item_count_mismatches(conn, user_id) == []
        assert await _postings_mismatches(conn, user_id, packed=True) == set()
        longest = await (
            await conn.execute("SELECT max(block_no) AS b FROM lexeme_postings WHERE user_id = %s", (user_id,))
        ).fetchone()
        assert longest is not None and longest["b"] >= 1  # the packing check covered multi-block lists
        # Re-ingestion: some chunks kept, some replaced, some dropped, some added.
        await _write(conn, user_id, items[0], [_text(rng) for _ in range(40)])
        await _write(conn, user_id, items[1], [])
        assert await _df_mismatches(conn, user_id) == []
        assert await _item_count_mismatches(conn, user_id) == []
        assert await _postings_mismatches(conn, user_id) == set()
        async with conn.transaction():
            await library_repo.lock_library(conn, user_id=user_id)
            await library_repo.soft_delete_items(conn, user_id=user_id, item_ids=items[2:6])
            await library_repo.delete_items_chunks(conn, user_id=user_id, item_ids=items[2:6])
        assert await _df_mismatches(conn, user_id) == []
        assert await _item_count_mismatches(conn, user_id) == []
        assert await _postings_mismatches(conn, user_id) == set()
        # Every chunk gone: no frequency is left behind (a zero would be a row for nothing).
        async with conn.transaction():
            await library_repo.lock_library(conn, user_id=user_id)
            await library_repo.delete_items_chunks(conn, user_id=user_id, item_ids=items)
        left = await (
            await conn.execute(
                """SELECT (SELECT count(*) FROM lexeme_df WHERE user_id = %(u)s)
                          + (SELECT count(*) FROM lexeme_postings WHERE user_id = %(u)s) AS n""",
                {"u": user_id},
            )
        ).fetchone()
        assert left is not None and left["n"] == 0
        await _write(conn, user_id, items[7], [_text(rng) for _ in range(5)])
        assert await _df_mismatches(conn, user_id) == []
        assert await _item_count_mismatches(conn, user_id) == []
        assert await _postings_mismatches(conn, user_id) == set()
        # The user's removal takes the frequencies along.
        await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        left = await (
            await conn.execute(
                """SELECT (SELECT count(*) FROM lexeme_df WHERE user_id = %(u)s)
                          + (SELECT count(*) FROM lexeme_postings WHERE user_id = %(u)s) AS n""",
                {"u": user_id},
            )
        ).fetchone()
        assert left is not None and left["n"] == 0


async def test_a_delete_does_not_wait_for_chunks_added_before_the_library_lock(tapp: TestApp) -> None:
    # An ingestion adds a new item's chunks before it takes the library's lock; a delete takes the
    # lock, then the item's row. Were the item's row written by add_chunks (its chunk count), the
    # delete would wait for the ingestion and the ingestion for the lock: a deadlock.
    db = tapp.app.state.resources.db
    async with db.write() as setup:
        user_id = await _new_user(setup, "lock-order")
        item_id = await library_repo.insert_item(setup, user_id=user_id, item_type="ARTICLE", title="t")
    async with db.write() as ingest, ingest.transaction():
        await library_repo.add_chunks(
            ingest, user_id=user_id, item_id=item_id, chunks=_chunks(["river bridge"]), embedding_model="m",
            embedding_version="1",
        )  # fmt: skip
        async with db.write() as delete, delete.transaction():
            await delete.execute("SET LOCAL lock_timeout = '2s'")
            await library_repo.lock_library(delete, user_id=user_id)
            assert await library_repo.soft_delete_item(delete, user_id=user_id, item_id=item_id)
            await library_repo.delete_item_chunks(delete, user_id=user_id, item_id=item_id)
        await library_repo.lock_library(ingest, user_id=user_id)
        # The ingestion learns that its item is gone (and rolls back, as the pipeline does).
        assert not await library_repo.lock_live_item(ingest, user_id=user_id, item_id=item_id)
