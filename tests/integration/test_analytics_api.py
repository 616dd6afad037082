"""Concordance and term distribution on the real database: stems matched in each document's own
language, every occurrence once across the pages, counts equal to the text's, one library only."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.conftest import TestApp
from tests.support.documents import make_pdf
from tests.support.statements import count_statements

# One chapter per page, so each page is a chunk of its own (pages of one chapter share chunks).
EN_PAGES = [
    "The river runs quietly through the valley, and rivers have always shaped the land around them. "
    "A river is patient with the stones it carries.",
    "Nothing in this part speaks of water at all; it speaks of mountains, of stones and of the long "
    "winters of the north, where people wait for spring.",
    "Down by the river the children played until evening, when the river turned silver under the moon "
    "and their parents called them home.",
]
TR_PAGES = [
    "Kitap okumayı çok severim. Kitaplarımızdan birini sana vereyim; bu kitabı da çok beğendim ve "
    "herkese öneririm. Akşamları uzun uzun okuruz.",
    "Kütüphanede yeni kitaplar var. İnsanlar her akşam kitap okumayı sever ve sessizce oturur, "
    "dışarıda yağmur yağarken.",
]
EN_RIVER = [["river", "rivers", "river"], [], ["river", "river"]]
TR_KITAP = [["Kitap", "Kitaplarımızdan", "kitabı"], ["kitaplar", "kitap"]]


@pytest.fixture(scope="module")
def people(tapp: TestApp) -> dict[str, dict[str, str]]:
    return {"ann": tapp.new_user()[1], "bob": tapp.new_user()[1]}


def _pdf(pages: list[str], title: str, chapter: str) -> bytes:
    return make_pdf(pages, title=title, bookmarks={n: [f"{chapter} {n + 1}"] for n in range(len(pages))})


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def library(tapp: TestApp, people: dict[str, dict[str, str]]) -> dict[str, str]:
    ann, bob = people["ann"], people["bob"]
    en = await tapp.ingest(ann, "rivers.pdf", _pdf(EN_PAGES, "Rivers", "Part"), title="Rivers of the North")
    tr = await tapp.ingest(ann, "kitaplar.pdf", _pdf(TR_PAGES, "Kitaplar", "Bölüm"), title="Kitaplar Üzerine")
    assert en["run"]["files_done"] == 1 and tr["run"]["files_done"] == 1, (en, tr)
    resp = await tapp.client.post(
        "/api/add-item",
        headers=bob,
        json={
            "text": "The river of another library: this river belongs to someone else entirely, and so does its kitap."
        },
    )
    assert resp.status_code == 201, resp.text
    return {"en": en["item_id"], "tr": tr["item_id"], "bob": resp.json()["id"]}


async def _get(tapp: TestApp, headers: dict[str, str], route: str, **params: object) -> dict[str, Any]:
    resp = await tapp.client.get(f"/api/analytics/{route}", headers=headers, params=params)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def _all_lines(tapp: TestApp, headers: dict[str, str], page_size: int, **params: object) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = await _get(
            tapp, headers, "concordance", limit=page_size, **params, **({"cursor": cursor} if cursor else {})
        )
        assert len(page["lines"]) <= page_size
        lines.extend(page["lines"])
        cursor = page["next_cursor"]
        if cursor is None:
            return lines
        assert len(page["lines"]) == page_size, "only a full page has a next page"
    raise AssertionError("the concordance never ended")


async def test_turkish_suffixes_match_the_stem(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    page = await _get(tapp, people["ann"], "concordance", term="kitap")
    assert "kitap" in page["lexemes"]["turkish"]
    assert [line["match"] for line in page["lines"]] == [w for words in TR_KITAP for w in words]
    assert {line["item_id"] for line in page["lines"]} == {library["tr"]}
    assert page["next_cursor"] is None
    first, long_word = page["lines"][0], page["lines"][1]
    assert first["title"] == "Kitaplar Üzerine" and first["page"] == 1 and first["chunk_id"] > 0
    assert long_word["left"].endswith("çok severim. ") and long_word["right"].startswith(" birini sana vereyim")
    # The match sits at its offset in the chunk's own text.
    chunks = (await tapp.client.get(f"/api/content?ids={long_word['chunk_id']}", headers=people["ann"])).json()
    text = chunks["chunks"][0]["text"]
    assert text[long_word["offset"] : long_word["offset"] + len("Kitaplarımızdan")] == "Kitaplarımızdan"

    # Any inflected form finds the same occurrences.
    again = await _get(tapp, people["ann"], "concordance", term="Kitaplarımızdan")
    assert [line["match"] for line in again["lines"]] == [line["match"] for line in page["lines"]]


async def test_english_stems_and_context(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    page = await _get(tapp, people["ann"], "concordance", term="rivers")
    assert [line["match"] for line in page["lines"]] == [w for words in EN_RIVER for w in words]
    assert [line["page"] for line in page["lines"]] == [1, 1, 1, 3, 3]
    plural = page["lines"][1]
    assert plural["left"].endswith("through the valley, and ") and plural["right"].startswith(" have always shaped")
    # Context is cut to whole words and at most the configured width.
    width = tapp.settings.analytics.context_chars
    for line in page["lines"]:
        assert len(line["left"]) <= width and len(line["right"]) <= width
        assert "\n" not in line["left"] + line["right"]
    # Bob's note about a river is not in Ann's library, and Ann's English book holds no 'kitap'.
    assert {line["item_id"] for line in page["lines"]} == {library["en"]}


async def test_paging_returns_every_occurrence_once(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    whole = (await _get(tapp, people["ann"], "concordance", term="kitap"))["lines"]
    for size in (1, 2, 4):
        paged = await _all_lines(tapp, people["ann"], size, term="kitap")
        assert paged == whole
    one_item = await _all_lines(tapp, people["ann"], 2, term="river", item_id=library["en"])
    assert [line["match"] for line in one_item] == [w for words in EN_RIVER for w in words]
    assert await _all_lines(tapp, people["ann"], 2, term="river", item_id=library["tr"]) == []


async def test_distribution_counts_the_occurrences_in_the_text(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    dist = await _get(tapp, people["ann"], "distribution", term="river")
    assert (dist["total_count"], dist["total_chunks"], dist["total_items"]) == (5, 2, 1)
    (item,) = dist["items"]
    assert item["item_id"] == library["en"] and item["title"] == "Rivers of the North"
    assert (item["count"], item["chunks"]) == (5, 2)
    assert [(s["page"], s["count"], s["chunks"]) for s in item["sections"]] == [(1, 3, 1), (3, 2, 1)]
    assert all(s["chapter"] for s in item["sections"])
    # The same number as a plain count of the words in the text.
    text_count = sum(len(re.findall(r"\brivers?\b", p, flags=re.IGNORECASE)) for p in EN_PAGES)
    assert item["count"] == text_count

    dist = await _get(tapp, people["ann"], "distribution", term="kitap")
    (item,) = dist["items"]
    assert [(s["page"], s["count"]) for s in item["sections"]] == [(1, 3), (2, 2)]
    assert dist["total_count"] == len(await _all_lines(tapp, people["ann"], 3, term="kitap"))
    assert dist["truncated"] is False

    only = await _get(tapp, people["ann"], "distribution", term="kitap", item_id=library["en"])
    assert (only["total_count"], only["items"]) == (0, [])

    # Bob sees his own river and kitap only.
    bob = await _get(tapp, people["bob"], "distribution", term="river")
    assert [(i["item_id"], i["count"]) for i in bob["items"]] == [(library["bob"], 2)]
    bob_lines = (await _get(tapp, people["bob"], "concordance", term="kitap"))["lines"]
    assert [line["item_id"] for line in bob_lines] == [library["bob"]]


async def test_words_that_are_not_there(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    page = await _get(tapp, people["ann"], "concordance", term="zeppelin")
    assert page["lines"] == [] and page["next_cursor"] is None
    # A stop word of every language in the library has no stems at all.
    page = await _get(tapp, people["ann"], "concordance", term="the")
    assert page["lines"] == [] and "english" not in page["lexemes"]
    dist = await _get(tapp, people["ann"], "distribution", term="zeppelin")
    assert (dist["total_count"], dist["items"]) == (0, [])


async def test_another_users_item_is_not_found(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str]
) -> None:
    for route in ("concordance", "distribution"):
        for who, item in (("ann", library["bob"]), ("bob", library["en"]), ("ann", str(uuid.uuid4()))):
            resp = await tapp.client.get(
                f"/api/analytics/{route}", headers=people[who], params={"term": "river", "item_id": item}
            )
            assert resp.status_code == 404, resp.text
            assert resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [
        {"term": ""},
        {"term": "   "},
        {"term": "x" * 65},
        {"term": "two words"},
        {"term": "kitap'tan"},
        {},
        {"term": "river", "limit": 0},
        {"term": "river", "limit": 201},
        {"term": "river", "cursor": "not-a-cursor"},
        {"term": "river", "item_id": "not-a-uuid"},
    ],
)
async def test_bad_input_is_422(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str], params: dict[str, object]
) -> None:
    resp = await tapp.client.get("/api/analytics/concordance", headers=people["ann"], params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "bad_input"
    if "limit" not in params and "cursor" not in params:
        resp = await tapp.client.get("/api/analytics/distribution", headers=people["ann"], params=params)
        assert resp.status_code == 422, resp.text


async def test_needs_a_credential(tapp: TestApp) -> None:
    resp = await tapp.client.get("/api/analytics/concordance", params={"term": "river"})
    assert resp.status_code == 401


async def test_a_page_is_a_few_statements_whatever_the_library(
    tapp: TestApp, people: dict[str, dict[str, str]], library: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lexemes, the chunks holding them, the stems of their words (and the item check): never one
    # statement per chunk or per line.
    statements = count_statements(monkeypatch)
    await _get(tapp, people["ann"], "concordance", term="river", item_id=library["en"])
    assert statements() <= 4


def test_statuses_are_documented(tapp: TestApp) -> None:
    paths = tapp.app.openapi()["paths"]
    for route in ("/api/analytics/concordance", "/api/analytics/distribution"):
        assert {"200", "401", "404", "422"} <= set(paths[route]["get"]["responses"])


# Inflected forms whose stems differ from their beginnings in case, accents or final letters: the
# concordance only stems words that begin as a stem does, which these must all pass.
INFLECTED = {
    "english": ["Dying", "studies", "Happily", "Rivers"],
    "turkish": ["Kitabı", "İnsanların", "IRMAKLAR", "ağaçlarımızdan", "Âlemde"],
    "german": ["Häuser", "Übeln", "Straßen", "Äpfeln"],
    "french": ["Éditions", "Élèves", "Œuvres", "Ysaÿe"],
    "russian": ["Ёлками", "Книгами"],
    "spanish": ["Árboles", "Canciones"],
    "simple": ["Ärger", "İstanbul"],
}


async def test_stems_begin_as_their_words_do_in_the_filtered_languages(tapp: TestApp) -> None:
    from tomehub.analytics import service
    from tomehub.library.analysis import normalize

    async with tapp.app.state.resources.db.read() as conn:
        for cfg, words in INFLECTED.items():
            assert cfg in service._SUFFIX_STEMMERS
            for word in words:
                row = await (
                    await conn.execute(
                        "SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s)) AS stems",
                        (cfg, normalize(word, cfg)),
                    )
                ).fetchone()
                assert row is not None and row["stems"], (cfg, word)
                head = service._fold(row["stems"][0])[: service._HEAD_CHARS]
                assert service._folded_head(word[: service._HEAD_CHARS + 1]).startswith(head), (cfg, word, row)
