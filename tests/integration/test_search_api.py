"""Hybrid search against the real database: BM25 maths, OR semantics, per-user statistics,
filters, tiers, language analysis and the one-statement search."""

from __future__ import annotations

import math

import pytest

from tests.integration.conftest import TestApp
from tests.support.statements import count_statements
from tomehub.llm.base import LLMError

CORPUS = [
    "The lighthouse keeper trimmed the lamp every evening before the storm.",
    "A storm at sea tests the keeper, the lamp and the lighthouse alike; storm after storm.",
    "Bread is baked at dawn in the village oven.",
    "The village remembers the keeper of the lighthouse with a small museum.",
    "Tides rise and fall twice a day along the rocky coast.",
]


async def _library(tapp: TestApp, texts: list[str], **fields: object) -> tuple[dict[str, str], list[dict]]:
    _, h = tapp.new_user()
    items = []
    for text in texts:
        resp = await tapp.client.post("/api/add-item", headers=h, json={"text": text, **fields})
        assert resp.status_code == 201, resp.text
        items.append(resp.json())
    await tapp.settle()
    return h, items


async def _search(tapp: TestApp, h: dict[str, str], query: str, **body: object) -> dict:
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": query, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_bm25_scores_match_an_independent_computation(tapp: TestApp) -> None:
    h, _ = await _library(tapp, CORPUS)
    body = await _search(tapp, h, "storm lighthouse keeper", limit=10)
    db = tapp.app.state.resources.db
    async with db.read() as conn:
        rows = await (
            await conn.execute(
                """SELECT c.id, (SELECT array_agg(l.lexeme || ':' || array_length(l.positions, 1))
                                   FROM unnest(c.tsv) l) AS terms
                   FROM content_chunks c WHERE c.id = ANY(%s)""",
                ([hit["chunk_id"] for hit in body["hits"]],),
            )
        ).fetchall()
        user_id = (
            await (
                await conn.execute("SELECT user_id FROM content_chunks WHERE id = %s", (body["hits"][0]["chunk_id"],))
            ).fetchone()
        )["user_id"]
        all_rows = await (
            await conn.execute(
                """SELECT (SELECT array_agg(l.lexeme || ':' || array_length(l.positions, 1)) FROM unnest(c.tsv) l) AS terms
                   FROM content_chunks c WHERE c.user_id = %s""",
                (user_id,),
            )
        ).fetchall()
    docs = [dict((t.split(":")[0], int(t.split(":")[1])) for t in r["terms"]) for r in all_rows]
    n, avgdl = len(docs), sum(sum(d.values()) for d in docs) / len(docs)
    k1, b = tapp.settings.search.bm25_k1, tapp.settings.search.bm25_b
    query = ["storm", "lighthous", "keeper"]

    def bm25(doc: dict[str, int]) -> float:
        dl = sum(doc.values())
        score = 0.0
        for term in query:
            df = sum(1 for d in docs if term in d)
            tf = doc.get(term, 0)
            if df and tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
        return score

    expected = {r["id"]: bm25(dict((t.split(":")[0], int(t.split(":")[1])) for t in r["terms"])) for r in rows}
    for hit in body["hits"]:
        if hit["lexical_rank"] is not None:
            assert hit["lexical_score"] == pytest.approx(expected[hit["chunk_id"]], rel=1e-9)
    lexical = sorted((x for x in body["hits"] if x["lexical_rank"]), key=lambda x: x["lexical_rank"])
    assert [x["lexical_score"] for x in lexical] == sorted((x["lexical_score"] for x in lexical), reverse=True)
    # The chunk with "storm" twice and all three terms ranks first.
    assert "storm after storm" in lexical[0]["text"]


async def test_or_semantics_find_chunks_sharing_any_term(tapp: TestApp) -> None:
    h, _ = await _library(tapp, CORPUS)
    # "zeppelin" is nowhere: an AND query (websearch_to_tsquery) would return nothing.
    body = await _search(tapp, h, "zeppelin over the village oven")
    lexical = sorted((x for x in body["hits"] if x["lexical_rank"]), key=lambda x: x["lexical_rank"])
    assert "oven" in lexical[0]["text"]
    assert any("museum" in x["text"] for x in lexical)  # "village" alone is enough to match


async def test_statistics_are_per_user(tapp: TestApp) -> None:
    h, _ = await _library(tapp, CORPUS)
    before = await _search(tapp, h, "storm keeper")
    # Another user floods their own library with the same words.
    await _library(tapp, [f"storm storm keeper {n}" for n in range(15)])
    after = await _search(tapp, h, "storm keeper")

    def lexical(result: dict) -> dict[int, float]:
        return {x["chunk_id"]: x["lexical_score"] for x in result["hits"] if x["lexical_rank"]}

    assert lexical(before) and lexical(after) == lexical(before)


async def test_filters_by_item_type_tag_and_item(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    ids = {}
    for kind, tag, text in [
        ("HIGHLIGHT", "sea", "The storm broke over the harbour wall."),
        ("INSIGHT", "sea", "Every storm passes; the harbour remains."),
        ("PERSONAL_NOTE", "home", "The storm kept us indoors all weekend."),
    ]:
        resp = await tapp.client.post("/api/add-item", headers=h, json={"text": text, "item_type": kind, "tags": [tag]})
        ids[kind] = resp.json()["id"]
    await tapp.settle()
    got = await _search(tapp, h, "storm", filters={"item_types": ["HIGHLIGHT", "INSIGHT"]})
    assert {x["item_type"] for x in got["hits"]} == {"HIGHLIGHT", "INSIGHT"}
    got = await _search(tapp, h, "storm", filters={"tags": ["Home"]})
    assert [x["item_id"] for x in got["hits"]] == [ids["PERSONAL_NOTE"]]
    got = await _search(tapp, h, "storm", filters={"item_ids": [ids["INSIGHT"]]})
    assert [x["item_id"] for x in got["hits"]] == [ids["INSIGHT"]]
    got = await _search(tapp, h, "storm", filters={"tags": ["nowhere"]})
    assert got["hits"] == []


async def test_keyword_tier_when_the_query_cannot_be_embedded(tapp: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    h, _ = await _library(tapp, CORPUS)

    async def unavailable(*args: object, **kwargs: object) -> None:
        raise LLMError("embedding provider down")

    monkeypatch.setattr(tapp.embedder, "embed", unavailable)
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": "lighthouse keeper"})
    assert resp.status_code == 200
    assert resp.headers["X-TomeHub-Tier"] == "2"
    body = resp.json()
    assert body["tier"] == 2 and body["tier_name"] == "keyword"
    assert body["hits"] and all(x["dense_rank"] is None for x in body["hits"])
    assert "lighthouse" in body["hits"][0]["text"]


async def test_hybrid_tier_reports_both_lists(tapp: TestApp) -> None:
    h, _ = await _library(tapp, CORPUS)
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": "lighthouse keeper"})
    assert resp.headers["X-TomeHub-Tier"] == "1"
    hits = resp.json()["hits"]
    assert any(x["dense_rank"] is not None for x in hits)
    assert any(x["lexical_rank"] is not None for x in hits)
    assert [x["score"] for x in hits] == sorted((x["score"] for x in hits), reverse=True)


async def test_vectors_of_another_model_are_never_compared(tapp: TestApp) -> None:
    h, items = await _library(tapp, CORPUS[:2])
    db = tapp.app.state.resources.db
    async with db.write() as conn:
        await conn.execute(
            """UPDATE chunk_passages SET embedding_model = 'old-model'
               WHERE chunk_id IN (SELECT id FROM content_chunks WHERE item_id = %s)""",
            (items[0]["id"],),
        )
    body = await _search(tapp, h, "lighthouse keeper lamp")
    stale = [x for x in body["hits"] if x["item_id"] == items[0]["id"]]
    assert stale, "still found by keyword"
    assert all(x["dense_rank"] is None for x in stale)


async def test_bad_queries_are_422(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    for body, word in [
        ({"query": ""}, "query"),
        ({"query": "   "}, "blank"),
        ({"query": "x" * 2001}, "longer"),
        ({"query": "ok", "limit": 101}, "limit"),
        ({"query": "ok", "limit": 0}, "limit"),
        ({"query": "ok", "filters": {"item_types": ["POEM"]}}, "item_types"),
        ({"query": "ok", "filters": {"item_ids": ["nope"]}}, "item_ids"),
        ({"q": "ok"}, "query"),
    ]:
        resp = await tapp.client.post("/api/smart-search", headers=h, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert word in resp.json()["error"]["message"], (body, resp.json())


async def test_empty_library_returns_no_hits(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    assert (await _search(tapp, h, "anything at all"))["hits"] == []


async def test_search_is_two_statements_whatever_the_hits(tapp: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    # The query's postings (scored in numpy), then dense, fusion and every hit's details: no N+1.
    h, items = await _library(tapp, CORPUS)
    await _search(tapp, h, "warm the user cache")
    statements = count_statements(monkeypatch)
    body = await _search(tapp, h, "lighthouse keeper storm", limit=5)
    assert len(body["hits"]) == 5
    assert all(x["title"] for x in body["hits"])
    assert statements() == 2
    body = await _search(tapp, h, "lighthouse keeper storm harbour", limit=2)
    assert len(body["hits"]) == 2
    assert statements() == 4
    # A filter too broad to list its chunks adds two: which of the best candidates it allows, and
    # the setting that keeps the planner on the HNSW walk (search/repo.py, walk_pinned).
    monkeypatch.setattr("tomehub.search.repo.ALLOWED_LIST_MAX", 0)
    body = await _search(
        tapp, h, "lighthouse keeper storm", limit=3, filters={"item_ids": [items[0]["id"], items[1]["id"]]}
    )
    assert body["hits"] and {x["item_id"] for x in body["hits"]} <= {items[0]["id"], items[1]["id"]}
    assert statements() == 8
