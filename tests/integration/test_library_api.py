"""Library routes against the real database: listing, details, edits, deletes, batch content."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.conftest import TestApp
from tests.support.statements import count_statements


async def _note(tapp: TestApp, h: dict[str, str], text: str, **fields: object) -> dict:
    resp = await tapp.client.post("/api/add-item", headers=h, json={"text": text, **fields})
    assert resp.status_code == 201, resp.text
    return resp.json()


async def test_listing_pages_newest_first_and_filters(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    made = [
        await _note(
            tapp, h, f"Insight number {n} about reading.", item_type="INSIGHT", tags=["odd" if n % 2 else "even"]
        )
        for n in range(5)
    ]
    await _note(tapp, h, "A highlight, not an insight.", item_type="HIGHLIGHT", page=3)
    page1 = (await tapp.client.get("/api/library/items?limit=4", headers=h)).json()
    assert len(page1["items"]) == 4 and page1["next_cursor"]
    page2 = (await tapp.client.get(f"/api/library/items?limit=4&cursor={page1['next_cursor']}", headers=h)).json()
    assert len(page2["items"]) == 2 and page2["next_cursor"] is None
    ids = [i["id"] for i in page1["items"] + page2["items"]]
    assert len(set(ids)) == 6
    assert ids[-1] == made[0]["id"]  # oldest last
    insights = (await tapp.client.get("/api/library/items?item_type=INSIGHT", headers=h)).json()["items"]
    assert {i["item_type"] for i in insights} == {"INSIGHT"} and len(insights) == 5
    odd = (await tapp.client.get("/api/library/items?tag=ODD", headers=h)).json()["items"]
    assert len(odd) == 2
    bad = await tapp.client.get("/api/library/items?cursor=not-a-cursor", headers=h)
    assert bad.status_code == 422
    assert "cursor" in bad.json()["error"]["message"]
    assert (await tapp.client.get("/api/library/items?limit=0", headers=h)).status_code == 422


async def test_items_of_another_user_are_not_found_on_every_route(tapp: TestApp) -> None:
    _, alice = tapp.new_user()
    _, bob = tapp.new_user()
    item = await _note(tapp, alice, "Alice's private note about Kierkegaard's leap of faith.")
    path = f"/api/library/items/{item['id']}"
    assert (await tapp.client.get(path, headers=bob)).status_code == 404
    assert (await tapp.client.patch(path, headers=bob, json={"title": "mine now"})).status_code == 404
    assert (await tapp.client.delete(path, headers=bob)).status_code == 404
    assert (await tapp.client.get("/api/library/items", headers=bob)).json()["items"] == []
    hits = (await tapp.client.post("/api/smart-search", headers=bob, json={"query": "Kierkegaard leap"})).json()
    assert hits["hits"] == []
    chunk_id = (await tapp.client.post("/api/smart-search", headers=alice, json={"query": "Kierkegaard"})).json()[
        "hits"
    ][0]["chunk_id"]
    content = (await tapp.client.get(f"/api/content?ids={chunk_id}", headers=bob)).json()
    assert content == {"chunks": [], "missing": [chunk_id]}
    # Alice still has it all.
    assert (await tapp.client.get(path, headers=alice)).json()["title"].startswith("Alice's private note")


async def test_unknown_and_malformed_item_ids(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    assert (await tapp.client.get(f"/api/library/items/{uuid.uuid4()}", headers=h)).status_code == 404
    resp = await tapp.client.get("/api/library/items/not-a-uuid", headers=h)
    assert resp.status_code == 422
    assert "item_id" in resp.json()["error"]["message"]


async def test_patch_changes_metadata_and_rejects_nonsense(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    item = await _note(tapp, h, "Notes on Montaigne's essays.")
    path = f"/api/library/items/{item['id']}"
    resp = await tapp.client.patch(
        path,
        headers=h,
        json={"title": "Montaigne", "author": "M. de Montaigne", "tags": ["Essays", "essays", " French "]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["title"] == "Montaigne"
    assert resp.json()["tags"] == ["essays", "french"]
    assert (await tapp.client.get(path, headers=h)).json()["author"] == "M. de Montaigne"
    for bad in ({"title": None}, {"title": ""}, {"item_type": "POEM"}, {"colour": "red"}, {"tags": ["x" * 65]}):
        resp = await tapp.client.patch(path, headers=h, json=bad)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["error"]["code"] == "bad_input"


async def test_a_renamed_item_is_not_served_under_its_old_title_from_the_cache(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    item = await _note(tapp, h, "Cormorants dry their wings on the breakwater.")
    await tapp.settle()
    body = {"query": "cormorants breakwater"}
    first = (await tapp.client.post("/api/smart-search", headers=h, json=body)).json()
    again = (await tapp.client.post("/api/smart-search", headers=h, json=body)).json()
    assert again["cached"] is True  # the same search on the same library comes from the cache
    assert first["hits"][0]["title"] != "Seabirds"
    resp = await tapp.client.patch(f"/api/library/items/{item['id']}", headers=h, json={"title": "Seabirds"})
    assert resp.status_code == 200, resp.text
    renamed = (await tapp.client.post("/api/smart-search", headers=h, json=body)).json()
    assert renamed["hits"][0]["title"] == "Seabirds"


async def test_delete_removes_the_item_and_its_chunks_from_search_and_statistics(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    keep = await _note(tapp, h, "Hume argued that causation is habit of the mind.")
    gone = await _note(tapp, h, "Kant answered Hume with the synthetic a priori.")
    hits = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "synthetic a priori Kant"})).json()
    gone_chunk = next(x["chunk_id"] for x in hits["hits"] if x["item_id"] == gone["id"])
    assert (await tapp.client.delete(f"/api/library/items/{gone['id']}", headers=h)).status_code == 204
    assert (await tapp.client.get(f"/api/library/items/{gone['id']}", headers=h)).status_code == 404
    assert (await tapp.client.delete(f"/api/library/items/{gone['id']}", headers=h)).status_code == 404
    hits = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "synthetic a priori Kant"})).json()
    assert all(x["item_id"] != gone["id"] for x in hits["hits"])
    assert (await tapp.client.get(f"/api/content?ids={gone_chunk}", headers=h)).json()["missing"] == [gone_chunk]
    db = tapp.app.state.resources.db
    async with db.read() as conn:
        row = await (
            await conn.execute(
                """SELECT s.chunk_count, s.lexeme_total,
                          (SELECT count(*) FROM content_chunks c WHERE c.user_id = s.user_id) AS chunks,
                          (SELECT coalesce(sum(lexeme_count), 0) FROM content_chunks c WHERE c.user_id = s.user_id) AS lex,
                          (SELECT count(*) FROM lexeme_postings p, unpack_postings(p.chunk_ids, p.tfs) u
                           WHERE p.user_id = s.user_id AND u.chunk_id = %s) AS postings
                   FROM library_stats s JOIN library_items i ON i.user_id = s.user_id WHERE i.id = %s""",
                (gone_chunk, keep["id"]),
            )
        ).fetchone()
    assert row["chunk_count"] == row["chunks"] == 1
    assert row["lexeme_total"] == row["lex"]
    assert row["postings"] == 0


async def test_content_batch_returns_details_in_order_in_one_query(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, h = tapp.new_user()
    for n in range(5):
        await _note(tapp, h, f"Detail note {n}: a fact about lighthouses number {n}.", title=f"Note {n}")
    hits = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "lighthouses", "limit": 5})).json()
    ids = [x["chunk_id"] for x in hits["hits"]][::-1]
    statements = count_statements(monkeypatch)
    resp = await tapp.client.get("/api/content", headers=h, params={"ids": ",".join(map(str, ids + [999999999]))})
    assert resp.status_code == 200
    body = resp.json()
    assert [c["id"] for c in body["chunks"]] == ids
    assert body["missing"] == [999999999]
    assert all(c["item_title"].startswith("Note ") for c in body["chunks"])
    assert statements() == 1
    too_many = ",".join(str(i) for i in range(201))
    assert (await tapp.client.get(f"/api/content?ids={too_many}", headers=h)).status_code == 422
    assert (await tapp.client.get("/api/content?ids=1,two", headers=h)).status_code == 422
    assert (await tapp.client.get("/api/content?ids=", headers=h)).status_code == 422
