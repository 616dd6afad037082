"""Per-user filtering under the HNSW index must not lose recall: one user holding a small share of a
large table still gets their true nearest neighbours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import TestApp
from tomehub.llm.fake.embedding import hashed_bow
from tomehub.search.vector import dense_ctes, ensure_vector_index, index_name

BIG_USER_CHUNKS = 10_000
SMALL_USER_CHUNKS = 60


async def _fill(tapp: TestApp, uid: str, n: int, seed: int) -> int:
    db = tapp.app.state.resources.db
    users = tapp.app.state.resources.users
    user_id = await users.user_id(uid)
    dim, model, version = tapp.embedder.dim, tapp.embedder.model, tapp.embedder.version
    async with db.write() as conn, conn.transaction():
        item = await (
            await conn.execute(
                "INSERT INTO library_items (user_id, item_type, title) VALUES (%s, 'BOOK', 'bulk') RETURNING id",
                (user_id,),
            )
        ).fetchone()
        await conn.execute("SELECT setseed(%s)", (seed / 100,))
        await conn.execute(
            f"""
            WITH chunks AS (
                INSERT INTO content_chunks (user_id, item_id, content_type, chunk_index, text, ts_config, tsv,
                                            lexeme_count, content_hash, passage_count)
                SELECT %(uid)s, %(item)s, 'BODY', g, 'qqq', 'simple', ''::tsvector, 0,
                       md5(g::text || %(uid)s::text), 1
                FROM generate_series(1, %(n)s) g
                RETURNING id, content_hash
            )
            INSERT INTO chunk_passages (chunk_id, item_id, user_id, passage_index, text, content_hash, embedding,
                                        embedding_model, embedding_version)
            SELECT id, %(item)s, %(uid)s, 0, 'qqq', content_hash,
                   ARRAY(SELECT random() - 0.5 + id * 0 FROM generate_series(1, {dim}))::vector,
                   %(model)s, %(version)s
            FROM chunks
            """,
            {"uid": user_id, "item": item["id"], "model": model, "version": version, "n": n},
        )
        await conn.execute("UPDATE library_items SET chunk_count = %s WHERE id = %s", (n, item["id"]))
        await conn.execute(
            """UPDATE library_stats SET chunk_count = chunk_count + %s, passage_count = passage_count + %s,
                      languages = '{simple}' WHERE user_id = %s""",
            (n, n, user_id),
        )
    return user_id


async def test_small_user_in_large_table_keeps_exact_recall(tapp: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    await _fill(tapp, "big-user", BIG_USER_CHUNKS, seed=1)
    small_id = await _fill(tapp, "small-user", SMALL_USER_CHUNKS, seed=2)
    db = tapp.app.state.resources.db
    async with db.write() as conn:
        await conn.execute("ANALYZE chunk_passages")
    # Past the size bound, only the user's small share of the index keeps this library exact.
    monkeypatch.setattr(tapp.settings.search, "exact_vector_max_passages", 0)
    h = tapp.headers("small-user")
    query = "navigation by the stars"
    qvec = hashed_bow(query, tapp.embedder.dim)
    async with db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT chunk_id AS id, embedding::text AS e FROM chunk_passages WHERE user_id = %s", (small_id,)
            )
        ).fetchall()
    vectors = np.array([[float(x) for x in r["e"].strip("[]").split(",")] for r in rows])
    sims = vectors @ qvec / np.linalg.norm(vectors, axis=1)
    exact_top = {rows[i]["id"] for i in np.argsort(-sims)[:10]}

    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": query, "limit": 10})
    assert resp.status_code == 200, resp.text
    got = {x["chunk_id"] for x in resp.json()["hits"]}
    assert len(got) == 10
    recall = len(got & exact_top) / 10
    assert recall >= 0.9, recall

    statement = dense_ctes(
        model=tapp.embedder.model, version=tapp.embedder.version, dim=tapp.embedder.dim, allowed="TRUE"
    )
    # The choice itself: the big user (all but 60 of the index's rows) walks the graph, the small one
    # is scanned exactly, though both are past exact_max.
    choice = sql.SQL(
        "WITH stats AS (SELECT passage_count FROM library_stats WHERE user_id = %(uid)s), {} "
        "SELECT exact FROM dense_plan"
    ).format(statement)
    big_id = await tapp.app.state.resources.users.user_id("big-user")
    async with db.read() as conn:
        for uid, exact in ((big_id, False), (small_id, True)):
            args = {
                "uid": uid,
                "qvec": "[" + ",".join(str(float(x)) for x in qvec) + "]",
                "depth": 10,
                "passage_depth": 30,
                "exact_max": 0,
            }
            row = await (await conn.execute(choice, args)).fetchone()
            assert row is not None and row["exact"] is exact, (uid, row)

    # When the graph is walked (forced here by claiming a huge library; it is walked for large
    # shares), iterative scans are what keep the recall: without them the graph's first ef_search
    # candidates hold almost none of this user's rows.
    probe = sql.SQL("WITH stats AS (SELECT 1000000000::bigint AS passage_count), {} SELECT chunk_id FROM dense").format(
        statement
    )
    params = {
        "uid": small_id,
        "qvec": "[" + ",".join(str(float(x)) for x in qvec) + "]",
        "depth": 10,
        "passage_depth": 10,
        "exact_max": 0,
    }
    async with db.read() as conn, conn.transaction():
        for setting in ("enable_sort", "enable_bitmapscan", "enable_seqscan"):
            await conn.execute(f"SET LOCAL {setting} = off")
        plan = "\n".join(
            r["QUERY PLAN"] for r in await (await conn.execute(sql.SQL("EXPLAIN ") + probe, params)).fetchall()
        )
        assert "chunk_passages_hnsw" in plan, plan
        with_iterative = {r["chunk_id"] for r in await (await conn.execute(probe, params)).fetchall()}
        await conn.execute("SET LOCAL hnsw.iterative_scan = off")
        without = {r["chunk_id"] for r in await (await conn.execute(probe, params)).fetchall()}
    assert len(with_iterative) == 10
    assert len(with_iterative & exact_top) / 10 >= 0.8
    assert len(without) < 5, without


async def test_a_filter_narrow_enough_to_list_is_scanned_exactly(tapp: TestApp) -> None:
    # A walk filtered to a small share of the index needs passage_depth / share tuples and could stop
    # at hnsw.max_scan_tuples short of them: a listed (small) allowed set is scanned exactly instead,
    # however large the library. A broad filter still walks.
    from tomehub.search.repo import (
        _ALLOWED_DENSE_CTE,
        _ALLOWED_ITEMS_CTE,
        ALLOWED_LIST_MAX,
        DenseSpace,
        SearchStatements,
        lexical_list,
        search_params,
    )
    from tomehub.search.schemas import SearchFilters

    await _fill(tapp, "wide-user", ALLOWED_LIST_MAX + 100, seed=3)
    user_id = await _fill(tapp, "wide-user", 20, seed=4)
    db = tapp.app.state.resources.db
    async with db.read() as conn:
        items = await (
            await conn.execute(
                "SELECT i.id, count(c.id) AS n FROM library_items i JOIN content_chunks c ON c.item_id = i.id "
                "WHERE i.user_id = %s GROUP BY i.id ORDER BY n",
                (user_id,),
            )
        ).fetchall()
    narrow, broad = items[0]["id"], items[1]["id"]
    dense = dense_ctes(
        model=tapp.embedder.model,
        version=tapp.embedder.version,
        dim=tapp.embedder.dim,
        allowed="c.chunk_id IN (SELECT id FROM allowed_chunks)",
        filtered=True,
    )
    choice = sql.SQL(
        "WITH stats AS (SELECT passage_count FROM library_stats WHERE user_id = %(uid)s), "
        + _ALLOWED_ITEMS_CTE
        + ", "
        + _ALLOWED_DENSE_CTE
        + ", {} "
        "SELECT exact FROM dense_plan"
    ).format(dense)
    settings = tapp.settings.search.model_copy(update={"exact_vector_max_passages": 0})
    qvec = [float(x) for x in hashed_bow("stars", tapp.embedder.dim)]
    async with db.read() as conn:
        for item, exact in ((narrow, True), (broad, False)):
            params = search_params(
                user_id=user_id,
                query="stars",
                qvec=qvec,
                limit=10,
                filters=SearchFilters(item_ids=[item]),
                settings=settings,
            )
            # The listing verdict is the postings statement's, as in a search.
            statements = SearchStatements(DenseSpace(tapp.embedder.model, tapp.embedder.version, tapp.embedder.dim))
            lexical = await lexical_list(conn, statements, params, filtered=True)
            params["allowed_listed"] = lexical.allowed_listed
            row = await (await conn.execute(choice, params)).fetchone()
            assert row is not None and row["exact"] is exact, (item, row)


async def test_a_broad_filter_walks_the_graph_checking_each_passage(tapp: TestApp) -> None:
    # A filter too broad to list, on a library past the exact-scan bound: the dense list walks the
    # HNSW index and checks each passage's item as it comes, instead of scanning and sorting every
    # passage that passes a list of the allowed chunks.
    from tomehub.search.repo import DenseSpace, build_statement, search_params, walk_pinned
    from tomehub.search.schemas import SearchFilters

    user_id = await _fill(tapp, "two-items", 1500, seed=5)
    await _fill(tapp, "two-items", 1500, seed=6)
    db = tapp.app.state.resources.db
    async with db.write() as conn:
        await conn.execute("ANALYZE chunk_passages")
        rows = await (
            await conn.execute(
                """SELECT c.item_id, p.chunk_id AS id, p.embedding::text AS e
                   FROM chunk_passages p JOIN content_chunks c ON c.id = p.chunk_id WHERE p.user_id = %s""",
                (user_id,),
            )
        ).fetchall()
    allowed_item = rows[0]["item_id"]
    mine = [r for r in rows if r["item_id"] == allowed_item]
    assert 0 < len(mine) < len(rows)
    query = "navigation by the stars"
    qvec = hashed_bow(query, tapp.embedder.dim)
    vectors = np.array([[float(x) for x in r["e"].strip("[]").split(",")] for r in mine])
    sims = vectors @ qvec / np.linalg.norm(vectors, axis=1)
    exact_top = {mine[i]["id"] for i in np.argsort(-sims)[:10]}

    statement = build_statement(
        dense=DenseSpace(tapp.embedder.model, tapp.embedder.version, tapp.embedder.dim), filtered=True
    )
    settings = tapp.settings.search.model_copy(update={"exact_vector_max_passages": 0})
    params = search_params(
        user_id=user_id,
        query=query,
        qvec=[float(x) for x in qvec],
        limit=10,
        filters=SearchFilters(item_ids=[allowed_item]),
        settings=settings,
    )
    # Broad: the allowed chunks are not listed; no lexical list, so the hits are the dense list's.
    params |= {"allowed_listed": False, "lex_ids": [], "lex_scores": [], "query_lexemes": [],
               "revision": 0}  # fmt: skip
    async with db.read() as conn, walk_pinned(conn):
        # As run_search runs a broad filter's statement (see the next test).
        plan = "\n".join(
            r["QUERY PLAN"]
            for r in await (await conn.execute(sql.SQL("EXPLAIN ANALYZE ") + statement, params)).fetchall()
        )
        hits = await (await conn.execute(statement, params)).fetchall()
    assert "Index Scan using chunk_passages_hnsw" in plan, plan
    # Each passage the walk yields is checked on its own row (its item), with no lookup of its chunk.
    walk = plan[plan.index("Index Scan using chunk_passages_hnsw") :].splitlines()
    walk_filter = next(line for line in walk if "Filter:" in line)
    assert "item_id = ANY" in walk_filter and "SubPlan" not in walk_filter, walk_filter
    assert len(hits) == 10
    assert {h["item_id"] for h in hits} == {allowed_item}
    assert len({h["chunk_id"] for h in hits} & exact_top) >= 8


async def test_a_broad_filter_walks_the_graph_where_the_planner_would_scan(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The planner estimates a broad filter's item check as rejecting nearly every passage; on this
    # small library (and, unprepared, at 100,000 chunks) it then plans to scan and sort every passage.
    # Inside walk_pinned it walks the HNSW index, and run_search runs a broad filter's statement there.
    from contextlib import asynccontextmanager

    from tomehub.search import repo
    from tomehub.search.schemas import SearchFilters

    # Many items, as a library has: the planner prices a check against an array of them as rejecting
    # most passages (it cannot know the array's length before the statement runs).
    for seed in range(100):
        user_id = await _fill(tapp, "broad", 30, seed=seed)
    db = tapp.app.state.resources.db
    async with db.write() as conn:
        await conn.execute("ANALYZE")
    async with db.read() as conn:
        rows = await (await conn.execute(
            "SELECT id FROM library_items WHERE user_id = %s ORDER BY id LIMIT 20", (user_id,))).fetchall()  # fmt: skip
    items = [r["id"] for r in rows]
    space = repo.DenseSpace(tapp.embedder.model, tapp.embedder.version, tapp.embedder.dim)
    statements = repo.SearchStatements(space)
    settings = tapp.settings.search.model_copy(update={"exact_vector_max_passages": 0})
    query = "navigation by the stars"
    params = repo.search_params(
        user_id=user_id, query=query, qvec=[float(x) for x in hashed_bow(query, tapp.embedder.dim)], limit=10,
        filters=SearchFilters(item_ids=items), settings=settings,
    )  # fmt: skip
    params["allowed_max"] = 0  # too broad to list, whatever its size
    statement = sql.SQL("EXPLAIN ") + statements.get(hybrid=True, filtered=True)
    args = params | {"allowed_listed": False, "lex_ids": [], "lex_scores": [], "query_lexemes": [], "revision": 0}

    async def walk_plan(pinned: bool) -> str:
        async with db.read() as conn, conn.transaction():
            if pinned:
                await conn.execute(repo._PIN_WALK)
            plan = [r["QUERY PLAN"] for r in await (await conn.execute(statement, args, prepare=False)).fetchall()]
        # The walk branch is the one filtered by each passage's item.
        text = "\n".join(plan)
        return text[text.index("NOT (InitPlan") - 200 :]

    # Unpinned, the planner reads the passages some other way and sorts them all (a sequential scan,
    # or a scan of another index, by its estimates of the moment).
    assert "chunk_passages_hnsw" not in await walk_plan(pinned=False)
    pinned_plan = await walk_plan(pinned=True)
    assert "Index Scan using chunk_passages_hnsw" in pinned_plan and "Seq Scan on chunk_passages" not in pinned_plan

    pins: list[bool] = []
    original = repo.walk_pinned

    @asynccontextmanager
    async def spy(conn: Any) -> AsyncIterator[None]:
        pins.append(True)
        async with original(conn):
            yield

    monkeypatch.setattr(repo, "walk_pinned", spy)
    async with db.read() as conn:
        hits = await repo.run_search(conn, statements, params, hybrid=True, filtered=True)
    assert pins == [True]
    assert hits and {h["item_id"] for h in hits} <= set(items)


async def test_a_start_replaces_an_index_of_an_older_layout(tapp: TestApp) -> None:
    # A server upgraded from the float4 graph: its space is registered under the old index's name.
    db = tapp.app.state.resources.db
    model, version, dim = tapp.embedder.model, tapp.embedder.version, tapp.embedder.dim
    new_name = index_name(model, version)
    old_name = "chunk_passages_hnsw_float4_layout"
    async with db.write() as conn:
        await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(new_name)))
        await conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON chunk_passages USING hnsw ((embedding::vector({})) vector_cosine_ops) "
                "WHERE embedding_model = {} AND embedding_version = {}"
            ).format(sql.Identifier(old_name), sql.Literal(dim), sql.Literal(model), sql.Literal(version))
        )
        await conn.execute(
            "UPDATE embedding_spaces SET index_name = %s WHERE model = %s AND version = %s", (old_name, model, version)
        )

    assert await ensure_vector_index(db, model=model, version=version, dim=dim) == new_name

    async with db.read() as conn:
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await (
                await conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunk_passages'")
            ).fetchall()
        }
        space = await (
            await conn.execute(
                "SELECT index_name FROM embedding_spaces WHERE model = %s AND version = %s", (model, version)
            )
        ).fetchone()
    assert old_name not in indexes
    assert "halfvec_cosine_ops" in indexes[new_name], indexes[new_name]
    assert space is not None and space["index_name"] == new_name
    # A second start finds it built and changes nothing.
    assert await ensure_vector_index(db, model=model, version=version, dim=dim) == new_name


async def test_a_walked_search_starts_no_parallel_workers_for_the_exact_branch(tapp: TestApp) -> None:
    # The exact branch of a walked search never runs, but a parallel plan for it would start (and
    # stop) its workers on every search (6-7 ms at 100,000 chunks). That plan is forced here as it
    # comes at that size: parallel plans made free, and the exact branch reading every row of the
    # user (their index dropped inside this transaction, which is rolled back). Only the read
    # connections' own setting can then keep the workers out.
    db = tapp.app.state.resources.db
    big_id = await tapp.app.state.resources.users.user_id("big-user")
    statement = dense_ctes(
        model=tapp.embedder.model, version=tapp.embedder.version, dim=tapp.embedder.dim, allowed="TRUE"
    )
    probe = sql.SQL("WITH stats AS (SELECT 1000000000::bigint AS passage_count), {} SELECT chunk_id FROM dense").format(
        statement
    )
    params = {
        "uid": big_id,
        "qvec": "[" + ",".join(str(float(x)) for x in hashed_bow("tides", tapp.embedder.dim)) + "]",
        "depth": 10,
        "passage_depth": 30,
        "exact_max": 0,
    }
    async with db.search() as conn:
        tx = conn.transaction(force_rollback=True)
        async with tx:
            for setting in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
                await conn.execute(f"SET LOCAL {setting} = 0")
            await conn.execute("DROP INDEX chunk_passages_user")
            plan = "\n".join(
                r["QUERY PLAN"]
                for r in await (await conn.execute(sql.SQL("EXPLAIN (ANALYZE) ") + probe, params)).fetchall()
            )
    assert "Index Scan using chunk_passages_hnsw" in plan, plan
    assert "Seq Scan on chunk_passages" in plan, plan  # the exact branch, planned (never executed)
    assert "Gather" not in plan and "Workers" not in plan, plan


async def test_a_start_rebuilds_a_vector_index_left_unfinished(tapp: TestApp) -> None:
    # A start killed while it built the index leaves an invalid index under the name; IF NOT EXISTS
    # alone would keep it, and every search would scan instead of walk. A failed CREATE INDEX
    # CONCURRENTLY (a unique index over duplicates) leaves exactly such an index here.
    await _fill(tapp, "unfinished-index-user", 2, seed=3)  # two passages of one model: duplicates
    db = tapp.app.state.resources.db
    model, version, dim = tapp.embedder.model, tapp.embedder.version, tapp.embedder.dim
    name = index_name(model, version)
    async with db.write() as conn:
        await conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute(
                sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON chunk_passages (embedding_model)").format(
                    sql.Identifier(name)
                )
            )

    assert await ensure_vector_index(db, model=model, version=version, dim=dim) == name

    async with db.read() as conn:
        row = await (
            await conn.execute(
                "SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i "
                "WHERE i.indexrelid = to_regclass(%s)",
                (name,),
            )
        ).fetchone()
    assert row is not None and row["valid"], row
    assert "halfvec_cosine_ops" in row["def"], row["def"]
