"""OCR without Tesseract: scanned pages are found, chunks keep OCR'd and extracted text apart, the
document's language leads Tesseract's, and a missing Tesseract skips scanned pages with a clear error
(the OCR itself is tested in tests/integration/test_ocr.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.scans import make_scanned_pdf, scanned_page
from tomehub.errors import EmptyDocument
from tomehub.ingest import sandbox
from tomehub.ingest.chunking import chunk_sections
from tomehub.ingest.parsers import ocr
from tomehub.ingest.parsers.base import Section
from tomehub.ingest.parsers.pdf import parse_pdf

TEXT_PAGE = "Tides rise and fall twice a day because the moon pulls the oceans into two bulges."


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture
def no_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "_tesseract_installed", lambda: False)


def test_ocr_and_extracted_text_never_share_a_chunk() -> None:
    sections = [
        Section("Extracted text of page one. " * 5, page=1),
        Section("Recognised text of page two. " * 8, page=2, ocr=True),
        Section("Recognised text of page three. " * 5, page=3, ocr=True),
        Section("Extracted text of page four. " * 5, page=4),
    ]
    chunks = chunk_sections(sections, chunk_tokens=500, overlap_ratio=0.0, count_tokens=words)
    assert [(c.page, c.ocr) for c in chunks] == [(1, False), (2, True), (4, False)]
    assert "page three" in chunks[1].text and "page one" not in chunks[1].text


def test_the_documents_language_leads_tesseracts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "_available_languages", lambda: frozenset({"eng", "tur", "osd"}))
    monkeypatch.setattr(ocr, "_options", ocr.OcrOptions(languages=("eng", "tur", "deu")))
    assert ocr.language_for([]) == "eng+tur"
    assert ocr.language_for(["turkish"]) == "tur+eng"
    assert ocr.language_for(["english", "turkish"]) == "eng+tur"
    # A language not configured, or without Tesseract data, changes nothing.
    assert ocr.language_for(["french"]) == "eng+tur"
    assert ocr.language_for(["german", "turkish"]) == "tur+eng"


@pytest.mark.usefixtures("no_tesseract")
def test_without_tesseract_a_scan_fails_saying_ocr_is_not_available() -> None:
    with pytest.raises(EmptyDocument, match=r"scan.pdf is a scan \(its pages are images\) and OCR is not available"):
        parse_pdf(make_scanned_pdf([scanned_page("The estuary at dusk.")]), "scan.pdf")


@pytest.mark.usefixtures("no_tesseract")
def test_without_tesseract_a_mixed_pdf_keeps_its_text_pages() -> None:
    doc = parse_pdf(make_scanned_pdf([TEXT_PAGE, scanned_page("The estuary at dusk.")]), "mixed.pdf")
    assert [(s.page, s.ocr) for s in doc.sections] == [(1, False)]
    assert " ".join(doc.sections[0].text.split()) == TEXT_PAGE


@pytest.mark.usefixtures("no_tesseract")
def test_a_missing_tesseract_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sandbox, "_warned_no_ocr", False)
    with caplog.at_level(logging.WARNING, logger=sandbox.__name__):
        sandbox._warn_if_no_ocr(ocr.OcrOptions())
        sandbox._warn_if_no_ocr(ocr.OcrOptions())
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "OCR is not available: Tesseract is not installed (apt-get install tesseract-ocr, or `make ocr`): "
        "scanned PDF pages will be skipped"
    ]


def test_progress_is_read_back_whole_and_missing_before_the_first_report(tmp_path: Path) -> None:
    path = str(tmp_path / "parse.pages")
    assert ocr.read_progress(path) is None
    with ocr.reporting_to(path):
        ocr.report_pages(3, 10)
    assert ocr.read_progress(path) == (3, 10)
    # Outside a parse nothing is reported.
    ocr.report_pages(4, 10)
    assert ocr.read_progress(path) == (3, 10)
