"""Scanned PDFs are read by OCR (Tesseract) in the parser sandbox: page numbers kept, sections and chunks
marked as OCR text, text pages of a mixed PDF keep their own text layer, Turkish pages are read with
Turkish letters, the page progress reaches the caller, and a parse's time limit grows with its pages
while a hang is still killed. Skipped where Tesseract is not installed (`make ocr`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from uuid import UUID

import pytest

from tests.integration.conftest import TestApp
from tests.support import hostile_parsers
from tests.support.scans import make_scanned_pdf, require_tesseract, scanned_page
from tomehub.errors import EmptyDocument, ParserTimedOut
from tomehub.ingest.page_progress import page_recorder
from tomehub.ingest.parsers.ocr import OcrOptions
from tomehub.ingest.sandbox import ParserSandbox, SandboxLimits

ESTUARY = (
    "The estuary is where the river meets the sea. Fresh and salt water mix in a wedge that moves with "
    "the tide, and the mud flats feed the wading birds."
)
LIGHTHOUSE = "The lighthouse keeper trimmed the wick at dusk and wound the clockwork that turned the lens."
TURKISH = "Dağların ardında güneş batarken ışık sessizce çekildi. Şehrin üzerindeki gök ağır ağır karardı."
TEXT_PAGE = "Tides rise and fall twice a day because the moon pulls the oceans into two bulges."

LIMITS = SandboxLimits(memory_limit_mb=1024, timeout_s=120.0, workers=1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParserSandbox]:
    require_tesseract()
    box = ParserSandbox(LIMITS)
    yield box
    box.close()


def words(text: str) -> str:
    return " ".join(text.split())


def test_a_scanned_pdf_is_read_page_by_page_and_reports_its_pages(sandbox: ParserSandbox) -> None:
    data = make_scanned_pdf([scanned_page(ESTUARY), scanned_page(LIGHTHOUSE)])
    progress: list[tuple[int, int]] = []
    started = time.monotonic()
    doc = sandbox.parse(data, "scan.pdf", on_pages=lambda done, total: progress.append((done, total)))
    elapsed = time.monotonic() - started
    assert [(s.page, s.ocr) for s in doc.sections] == [(1, True), (2, True)]
    assert "river meets the sea" in words(doc.sections[0].text)
    assert "wading birds" in words(doc.sections[0].text)
    assert "trimmed the wick" in words(doc.sections[1].text)
    # Polled, so steps may be missed; the last report is always seen.
    assert progress and progress[-1] == (2, 2), progress
    assert all(total == 2 for _, total in progress)
    assert elapsed < 60, f"two pages took {elapsed:.1f} s"


def test_a_mixed_pdf_keeps_its_text_layer_and_reads_only_the_scanned_page(sandbox: ParserSandbox) -> None:
    data = make_scanned_pdf([TEXT_PAGE, scanned_page(ESTUARY), "The second text page: " + LIGHTHOUSE])
    progress: list[tuple[int, int]] = []
    doc = sandbox.parse(data, "mixed.pdf", on_pages=lambda done, total: progress.append((done, total)))
    assert [(s.page, s.ocr) for s in doc.sections] == [(1, False), (2, True), (3, False)]
    # The text pages are the document's own text, character for character.
    assert words(doc.sections[0].text) == TEXT_PAGE
    assert words(doc.sections[2].text) == "The second text page: " + LIGHTHOUSE
    assert "river meets the sea" in words(doc.sections[1].text)
    assert progress[-1] == (1, 1)


def test_a_turkish_scan_is_read_with_turkish_letters(sandbox: ParserSandbox) -> None:
    doc = sandbox.parse(make_scanned_pdf([scanned_page(TURKISH)]), "tarama.pdf")
    text = words(doc.sections[0].text)
    assert doc.sections[0].ocr
    for word in ("Dağların", "güneş", "ışık", "Şehrin", "üzerindeki", "ağır"):
        assert word in text, text


def test_a_text_pdf_is_not_ocrd(sandbox: ParserSandbox) -> None:
    progress: list[tuple[int, int]] = []
    doc = sandbox.parse(make_scanned_pdf([TEXT_PAGE]), "text.pdf", on_pages=lambda d, t: progress.append((d, t)))
    assert [(s.page, s.ocr) for s in doc.sections] == [(1, False)]
    assert progress == []


def test_with_ocr_off_a_scan_fails_saying_why() -> None:
    box = ParserSandbox(SandboxLimits(memory_limit_mb=512, timeout_s=30.0, workers=1, ocr_options=OcrOptions(False)))
    try:
        with pytest.raises(EmptyDocument, match=r"scan.pdf is a scan \(its pages are images\) and OCR is turned off"):
            box.parse(make_scanned_pdf([scanned_page(ESTUARY)]), "scan.pdf")
    finally:
        box.close()


def test_the_time_limit_grows_with_pages_read_and_a_hang_is_still_killed() -> None:
    # 2 s for the parse and 1 s a page: eight pages of 0.4 s each (3.2 s in all) finish; a child
    # that announces 1000 pages and hangs on the first is killed after 2 + 1 s, not 1000 s.
    limits = SandboxLimits(
        memory_limit_mb=512,
        timeout_s=2.0,
        workers=1,
        plugins=(hostile_parsers.PLUGIN,),
        ocr_options=OcrOptions(page_timeout_s=1.0),
    )
    box = ParserSandbox(limits)
    try:
        progress: list[tuple[int, int]] = []
        doc = box.parse(b"8", "book.slowocr", on_pages=lambda d, t: progress.append((d, t)))
        assert doc.sections[0].text == "8 pages read"
        assert progress[-1] == (8, 8) and len(progress) >= 3, progress
        started = time.monotonic()
        with pytest.raises(ParserTimedOut, match=r"timed out after 3 s with 0 of 1000 scanned pages OCR'd"):
            box.parse(b"hang", "stuck.ocrhang")
        assert time.monotonic() - started < 10
        # The pool recovered.
        assert box.parse(b"1", "one.slowocr").sections[0].text == "1 pages read"
    finally:
        box.close()


async def test_an_uploaded_scan_is_indexed_as_ocr_chunks_with_page_progress(tapp: TestApp) -> None:
    require_tesseract()
    _uid, h = tapp.new_user()
    data = make_scanned_pdf([TEXT_PAGE, scanned_page(ESTUARY), scanned_page(LIGHTHOUSE)])
    resp = await tapp.upload(h, "scanned-coast.pdf", data)
    assert resp.status_code == 202, resp.text
    run = await tapp.wait_run(h, resp.json()["run_id"], timeout_s=120)
    assert run["status"] == "succeeded", run
    assert (run["pages_done"], run["pages_total"]) == (2, 2), run
    body = (await tapp.client.post("/api/smart-search", headers=h, json={"query": "lighthouse keeper wick"})).json()
    assert body["hits"], body
    assert "trimmed the wick" in words(body["hits"][0]["text"])
    assert body["hits"][0]["ocr"] is True
    page = (await tapp.client.get(f"/api/library/items/{resp.json()['item_id']}/chunks", headers=h)).json()
    flags = [c["ocr"] for c in page["chunks"]]
    assert flags[0] is False and len(flags) > 1 and all(flags[1:]), page
    async with tapp.app.state.resources.db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT page, ocr, text FROM content_chunks WHERE item_id = %s ORDER BY chunk_index",
                (resp.json()["item_id"],),
            )
        ).fetchall()
    # The text page and the scanned pages are never one chunk: the first is extracted, the rest OCR'd.
    assert (rows[0]["page"], rows[0]["ocr"], words(rows[0]["text"])) == (1, False, TEXT_PAGE), rows
    assert rows[1:] and all(r["ocr"] and r["page"] in (2, 3) for r in rows[1:]), rows
    assert "river meets the sea" in words(" ".join(r["text"] for r in rows[1:]))


async def test_page_progress_reported_from_the_parsing_thread_shows_in_the_run(tapp: TestApp) -> None:
    _uid, h = tapp.new_user()
    done = await tapp.ingest(h, "notes.md", b"# Notes\n\nThe tide tables for the estuary, kept by hand.")
    assert (done["run"]["pages_done"], done["run"]["pages_total"]) == (0, 0)
    db = tapp.app.state.resources.db
    async with db.read() as conn:
        row = await (
            await conn.execute("SELECT id FROM ingestion_files WHERE run_id = %s", (done["run_id"],))
        ).fetchone()
    assert row is not None
    on_pages = page_recorder(db, UUID(str(row["id"])), asyncio.get_running_loop())
    # As the sandbox calls it: from the thread that waits for the parse.
    await asyncio.to_thread(on_pages, 3, 7)
    await asyncio.to_thread(on_pages, 4, 7)
    run = (await tapp.client.get(f"/api/ingest/runs/{done['run_id']}", headers=h)).json()
    assert (run["pages_done"], run["pages_total"]) == (4, 7), run
