"""Ingestion over HTTP against the real database: every format, bad files, idempotency, limits."""

from __future__ import annotations

import pytest

from tests.integration.conftest import TestApp, zip_of
from tests.support.documents import make_drm_epub, make_epub, make_html, make_pdf

MARKDOWN = b"""# Being and Time

## Dasein

Dasein is Heidegger's term for the kind of being that human beings have. Dasein is the entity
for which its own being is an issue.

## Care

Care (Sorge) names the structure of Dasein's being: ahead-of-itself, already-in, being-alongside.
"""


async def test_markdown_is_chunked_by_chapter_and_searchable(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    done = await tapp.ingest(h, "being.md", MARKDOWN, title="Being and Time notes", tags="philosophy, Heidegger")
    assert done["run"]["status"] == "succeeded"
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert item["status"] == "ready"
    assert item["tags"] == ["philosophy", "heidegger"]
    assert item["language"] == "english"
    resp = await tapp.client.post("/api/smart-search", headers=h, json={"query": "What is Dasein?"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert resp.headers["X-TomeHub-Tier"] == "1"
    assert body["tier"] == 1
    assert body["hits"][0]["chapter"] == "Dasein"
    assert body["hits"][0]["title"] == "Being and Time notes"


async def test_pdf_keeps_page_numbers(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    filler = " ".join(f"Sentence {n} of the surrounding page tells of paper, ink and guilds." for n in range(40))
    pdf = make_pdf(
        [
            "The printing press arrived in Mainz around 1450. " + filler,
            "Gutenberg's movable type used a lead alloy with tin and antimony. " + filler,
            "By 1500 presses in Venice had printed thousands of editions. " + filler,
        ],
        title="Print history",
    )
    done = await tapp.ingest(h, "print.pdf", pdf)
    assert done["run"]["status"] == "succeeded"
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "antimony alloy"})).json()
    best_lexical = next(hit for hit in body["hits"] if hit["lexical_rank"] == 1)
    assert best_lexical["page"] == 2
    assert "antimony" in best_lexical["text"]
    assert {hit["page"] for hit in body["hits"]} <= {1, 2, 3}
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert item["title"] == "Print history"  # from the PDF's metadata, no title was given


async def test_epub_chapters_come_from_the_table_of_contents(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    epub = make_epub(
        [
            ("On Anger", "Seneca wrote that anger is a brief madness."),
            ("On the Shortness of Life", "Life is long if you know how to use it."),
        ],
        title="Letters",
        author="Seneca",
    )
    done = await tapp.ingest(h, "letters.epub", epub)
    assert done["run"]["status"] == "succeeded"
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "brief madness anger"})).json()
    assert body["hits"][0]["chapter"] == "On Anger"
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert item["author"] == "Seneca"


async def test_html_drops_navigation_scripts_and_footer(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    html = make_html("Stoic practice", [("Morning", "Marcus Aurelius rehearsed the day's obstacles at dawn.")])
    done = await tapp.ingest(h, "stoic.html", html, item_type="WEBSITE")
    content = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert content["item_type"] == "WEBSITE"
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "obstacles dawn"})).json()
    text = " ".join(hit["text"] for hit in body["hits"])
    assert "Marcus Aurelius" in text
    for boilerplate in ("About us", "Copyright footer", "script text"):
        assert boilerplate not in text
    assert body["hits"][0]["chapter"] == "Morning"


async def test_turkish_text_is_stemmed_in_turkish(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    text = (
        "Mustafa Kemal 19 Mayıs 1919 günü Samsun'a çıktı. Ardından Amasya'da bir genelge yayımlandı ve "
        "Erzurum'da bir kongre toplandı. Kongre, milletin istiklalini yine milletin azim ve kararının "
        "kurtaracağını ilan etti."
    ).encode()
    done = await tapp.ingest(h, "nutuk-notlari.txt", text, item_type="PERSONAL_NOTE")
    item = (await tapp.client.get(f"/api/library/items/{done['item_id']}", headers=h)).json()
    assert item["language"] == "turkish"
    # "kongresi" and "Erzurum'a" are other inflections of the words in the text.
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "Erzurum'a kongresi"})).json()
    assert body["hits"], body
    assert body["hits"][0]["lexical_rank"] == 1


async def test_bad_files_fail_alone_with_readable_messages(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    cases = {
        "locked.pdf": (make_pdf(["secret"], password="hunter2"), "encrypted_document", "password"),
        "broken.pdf": (b"%PDF-1.7\n this is not really a pdf", "corrupt_document", "not a readable PDF"),
        "scan.pdf": (make_pdf([""]), "empty_document", "no text layer"),
        "drm.epub": (make_drm_epub(), "encrypted_document", "DRM"),
        "broken.epub": (b"PK\x03\x04 garbage", "corrupt_document", "not a readable EPUB"),
        "blank.md": (b"   \n\n  ", "empty_document", "empty"),
        "binary.txt": (b"\x00\x01\x02\x03binary", "corrupt_document", "binary"),
    }
    for name, (data, code, words) in cases.items():
        resp = await tapp.upload(h, name, data)
        assert resp.status_code == 202, (name, resp.text)
        run = await tapp.wait_run(h, resp.json()["run_id"])
        assert run["status"] == "failed", (name, run)
        assert run["errors"][0]["code"] == code, (name, run["errors"])
        assert words.lower() in run["errors"][0]["message"].lower(), (name, run["errors"])
        item = (await tapp.client.get(f"/api/library/items/{resp.json()['item_id']}", headers=h)).json()
        assert item["status"] == "failed"
        assert item["status_detail"] == run["errors"][0]["message"]
    # Nothing was lost: a good file right after still goes through.
    done = await tapp.ingest(h, "fine.md", MARKDOWN)
    assert done["run"]["status"] == "succeeded"


async def test_unsupported_type_is_415_and_oversized_upload_is_413(
    tapp: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, h = tapp.new_user()
    resp = await tapp.upload(h, "slides.pptx", b"PK\x03\x04 not a document we read")
    assert resp.status_code == 415
    assert "unsupported file type" in resp.json()["error"]["message"]
    monkeypatch.setattr(tapp.settings.ingest, "max_upload_bytes", 1000)
    resp = await tapp.upload(h, "big.txt", b"word " * 400)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"
    assert "limit" in resp.json()["error"]["message"]


async def test_malformed_upload_requests_are_422(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    resp = await tapp.client.post("/api/ingest", headers=h, data={"title": "no file"})
    assert resp.status_code == 422
    assert "file" in resp.json()["error"]["message"]
    resp = await tapp.upload(h, "a.md", MARKDOWN, item_type="MAGAZINE")
    assert resp.status_code == 422
    assert "item_type" in resp.json()["error"]["message"]


async def test_reuploading_the_same_file_duplicates_nothing_and_embeds_nothing(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    first = await tapp.ingest(h, "being.md", MARKDOWN)
    chunks_before = (await tapp.client.get(f"/api/library/items/{first['item_id']}", headers=h)).json()["chunk_count"]
    embedded_before = tapp.embedder.passages_embedded
    second = await tapp.ingest(h, "being-again.md", MARKDOWN)
    assert second["duplicate"] is True
    assert second["item_id"] == first["item_id"]
    assert second["run"]["passages_embedded"] == 0
    assert second["run"]["chunks_written"] == 0
    assert second["run"]["passages_reused"] == chunks_before
    assert tapp.embedder.passages_embedded == embedded_before
    items = (await tapp.client.get("/api/library/items", headers=h)).json()["items"]
    assert len(items) == 1
    assert items[0]["chunk_count"] == chunks_before


async def test_identical_text_in_another_file_reuses_its_vectors(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    part_a = b"## Memory\n\nSpaced repetition schedules reviews at growing intervals to fight the forgetting curve.\n"
    part_b = b"## Habits\n\nA habit loop has a cue, a routine and a reward, as described in popular accounts.\n"
    await tapp.ingest(h, "a.md", b"# Notes\n\n" + part_a)
    before = tapp.embedder.passages_embedded
    done = await tapp.ingest(h, "b.md", b"# Notes\n\n" + part_a + b"\n" + part_b)
    assert done["run"]["passages_reused"] == 1
    assert done["run"]["passages_embedded"] == 1
    assert tapp.embedder.passages_embedded == before + 1


async def test_add_item_highlight_keeps_its_page_and_is_searchable_at_once(tapp: TestApp) -> None:
    _, h = tapp.new_user()
    resp = await tapp.client.post(
        "/api/add-item",
        headers=h,
        json={
            "item_type": "HIGHLIGHT",
            "text": "We suffer more often in imagination than in reality.",
            "page": 42,
            "author": "Seneca",
            "tags": ["Stoicism"],
        },
    )
    assert resp.status_code == 201, resp.text
    item = resp.json()
    assert item["item_type"] == "HIGHLIGHT"
    assert item["tags"] == ["stoicism"]
    assert item["chunk_count"] == 1
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "imagination reality"})).json()
    assert body["hits"][0]["item_id"] == item["id"]
    assert body["hits"][0]["page"] == 42
    assert body["hits"][0]["content_type"] == "HIGHLIGHT"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": "   "}, "text"),
        ({"text": "ok", "page": 0}, "page"),
        ({"text": "ok", "item_type": "POEM"}, "item_type"),
        ({"text": "ok", "owner": "someone-else"}, "owner"),
        ({"item_type": "INSIGHT"}, "text"),
    ],
)
async def test_add_item_rejects_bad_input_with_the_field_named(tapp: TestApp, payload: dict, field: str) -> None:
    _, h = tapp.new_user()
    resp = await tapp.client.post("/api/add-item", headers=h, json=payload)
    assert resp.status_code == 422
    assert field in resp.json()["error"]["message"]


async def test_runs_of_other_users_are_not_found(tapp: TestApp) -> None:
    _, alice = tapp.new_user()
    _, bob = tapp.new_user()
    resp = await tapp.upload(alice, "a.md", MARKDOWN)
    run_id = resp.json()["run_id"]
    assert (await tapp.client.get(f"/api/ingest/runs/{run_id}", headers=bob)).status_code == 404
    assert (await tapp.client.get(f"/api/ingest/runs/{run_id}", headers=alice)).status_code == 200


async def test_the_same_file_uploaded_twice_at_once_makes_one_item(tapp: TestApp) -> None:
    import asyncio

    from tomehub.ingest.accept import sha256_of, submit_upload
    from tomehub.ingest.service import UploadMeta
    from tomehub.library import repo as library_repo

    uid, h = tapp.new_user()
    user_id = await tapp.app.state.resources.users.user_id(uid)
    db, queue = tapp.app.state.resources.db, tapp.app.state.ingest_queue
    data = b"# Twins\n\nTwo uploads of one file race each other to the database."
    # The first upload's transaction has inserted the item but not committed when the second looks.
    async with db.write() as conn, conn.transaction():
        first_item = await library_repo.insert_item(
            conn, user_id=user_id, item_type="BOOK", title="twin", file_sha256=sha256_of(data), status="pending"
        )
        second = asyncio.create_task(
            submit_upload(
                db=db,
                queue=queue,
                settings=tapp.settings,
                user_id=user_id,
                filename="twin.md",
                data=data,
                meta=UploadMeta(),
            )
        )
        await asyncio.sleep(0.5)  # the second is now blocked on the unique index
        assert not second.done()
    accepted = await second
    assert accepted.item_id == first_item
    assert accepted.duplicate is True
    await tapp.wait_run(h, str(accepted.run_id))
    items = (await tapp.client.get("/api/library/items", headers=h)).json()["items"]
    assert [i["id"] for i in items] == [str(first_item)]


async def test_batch_zip_is_one_run_with_per_file_errors(tapp: TestApp, monkeypatch: pytest.MonkeyPatch) -> None:
    _, h = tapp.new_user()
    archive = zip_of(
        {
            "notes/one.md": b"# One\n\nThe first note of the batch, about tides.",
            "notes/deep/two.txt": b"The second note, about lighthouses.",
            "three.html": make_html("Third", [("Part", "The third, about harbours.")]),
            "broken.pdf": b"%PDF-1.4 nonsense",
            "__MACOSX/._one.md": b"resource fork",
            ".hidden": b"skip me",
        }
    )
    resp = await tapp.client.post(
        "/api/ingest/batch", headers=h, files={"file": ("batch.zip", archive)}, data={"tags": "batch"}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["files"] == 4
    run = await tapp.wait_run(h, resp.json()["run_id"])
    assert run["status"] == "completed_with_errors"
    assert (run["files_done"], run["files_failed"]) == (3, 1)
    assert [e["file"] for e in run["errors"]] == ["broken.pdf"]
    items = (await tapp.client.get("/api/library/items?tag=batch", headers=h)).json()["items"]
    assert len(items) == 4
    monkeypatch.setattr(tapp.settings.ingest, "max_batch_files", 2)
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("batch.zip", archive)})
    assert resp.status_code == 422
    assert "at most 2" in resp.json()["error"]["message"]
    resp = await tapp.client.post("/api/ingest/batch", headers=h, files={"file": ("x.zip", b"not a zip")})
    assert resp.status_code == 422


async def test_one_users_big_batch_does_not_hold_back_anothers_file(tapp: TestApp) -> None:
    _, big = tapp.new_user()
    _, small = tapp.new_user()
    archive = zip_of({f"doc{n}.txt": f"Document number {n} about the sea and its moods.".encode() for n in range(30)})
    big_run = (await tapp.client.post("/api/ingest/batch", headers=big, files={"file": ("big.zip", archive)})).json()
    # The worker starts on a batch while it is still being recorded: count from the small upload on.
    big_then = (await tapp.client.get(f"/api/ingest/runs/{big_run['run_id']}", headers=big)).json()
    small_run = (await tapp.upload(small, "one.txt", b"A single note about mountains.")).json()
    done = await tapp.wait_run(small, small_run["run_id"])
    assert done["status"] == "succeeded"
    big_now = (await tapp.client.get(f"/api/ingest/runs/{big_run['run_id']}", headers=big)).json()
    finished = big_now["files_done"] + big_now["files_failed"] - big_then["files_done"] - big_then["files_failed"]
    assert big_then["files_done"] < 25, "the batch was nearly done before the other file came: no test"
    # Round-robin between users: the single file went ahead of most of the files still waiting.
    assert finished < 5, (big_then, big_now)
    await tapp.wait_run(big, big_run["run_id"])


async def test_a_runs_pending_passages_are_counted_from_the_pending_index(tapp: TestApp) -> None:
    # The web app polls a run while it lasts: its count of passages waiting for a vector must not scan
    # every user's passages (migration 0017's partial index holds only those).
    from tomehub.ingest.repo import _RUN_COLUMNS

    _, h = tapp.new_user()
    run = (await tapp.upload(h, "pending.txt", b"A note about lighthouses and their keepers.")).json()
    db = tapp.app.state.resources.db
    async with db.read() as conn, conn.transaction():
        # Tiny test tables favour a scan whatever the indexes; with scans priced out, the plan shows
        # whether the index can answer the count at all.
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await (
            await conn.execute(f"EXPLAIN SELECT {_RUN_COLUMNS} FROM ingestion_runs r WHERE r.id = %s", (run["run_id"],))
        ).fetchall()
    plan = "\n".join(str(next(iter(r.values()))) for r in rows)
    assert "chunk_passages_pending" in plan, plan
