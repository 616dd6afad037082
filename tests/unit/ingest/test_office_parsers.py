"""DOCX and ODT: paragraphs in order, headings as chapters, tables' text, core properties, bad files."""

from __future__ import annotations

import pytest

from tests.support.office import make_docx, make_odt
from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers import detect_format, parse_document

CHAPTERS = [
    ("Beginnings", ["The first paragraph of the book.", "A second paragraph, in Türkçe: çalışkan öğrenci."]),
    ("Endings", ["The last chapter's only paragraph."]),
]
TABLE = [["Name", "Year"], ["Tolstoy", "1869"]]


@pytest.mark.parametrize(("make", "suffix"), [(make_docx, ".docx"), (make_odt, ".odt")])
def test_chapters_paragraphs_tables_and_properties(make: object, suffix: str) -> None:
    data = make(CHAPTERS, table=TABLE)  # type: ignore[operator]
    doc = parse_document(data, f"novel{suffix}")
    assert [s.chapter for s in doc.sections] == ["Beginnings", "Endings"]
    first, last = doc.sections
    assert first.text.index("first paragraph") < first.text.index("çalışkan öğrenci")
    assert "Tolstoy | 1869" in last.text
    assert "Name | Year" in last.text
    assert doc.title in {"Test DOCX", "Test ODT"}
    assert doc.author in {"Ada Writer", "Odo Author"}


def test_title_falls_back_to_the_first_heading() -> None:
    doc = parse_document(make_docx(CHAPTERS, title=None, author=None), "untitled.docx")
    assert doc.title == "Beginnings"
    assert doc.author is None
    doc = parse_document(make_odt(CHAPTERS, title=None, author=None), "untitled.odt")
    assert doc.title == "Beginnings"


def test_odt_is_recognised_by_content_and_docx_by_name() -> None:
    assert detect_format(make_odt(CHAPTERS), "no-extension") == "odt"
    assert detect_format(make_docx(CHAPTERS), "report.DOCX") == "docx"


def test_bad_office_files_say_why() -> None:
    with pytest.raises(EncryptedDocument, match="password"):
        parse_document(make_odt(CHAPTERS, encrypted=True), "locked.odt")
    with pytest.raises(EncryptedDocument, match="password"):
        parse_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "locked.docx")
    with pytest.raises(CorruptDocument, match="not a readable DOCX"):
        parse_document(b"PK\x03\x04 not really a zip", "broken.docx")
    with pytest.raises(CorruptDocument, match="not a readable ODT"):
        parse_document(b"PK\x03\x04 not really a zip", "broken.odt")
    with pytest.raises(EmptyDocument):
        parse_document(make_docx([], title=None), "blank.docx")
    with pytest.raises(EmptyDocument):
        parse_document(make_odt([]), "blank.odt")
