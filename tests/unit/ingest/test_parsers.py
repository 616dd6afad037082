"""Parsers: text, pages and chapters out of every format; a clear error for every bad file."""

from __future__ import annotations

import pytest

from tests.support.documents import make_drm_epub, make_epub, make_html, make_pdf
from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument, UnsupportedMediaType
from tomehub.ingest.parsers import detect_format, parse_document


def test_pdf_text_layer_by_page() -> None:
    doc = parse_document(make_pdf(["First page text.", "Second page, with ünïcode and Türkçe."]), "a.pdf")
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Türkçe" in doc.sections[1].text
    assert doc.title == "Test PDF"


def test_pdf_bookmarks_name_the_chapters_even_mid_page() -> None:
    pdf = make_pdf(
        ["Page one body.", "Page two body.", "Page three body."], bookmarks={0: ["Intro"], 1: ["Method", "Results"]}
    )
    doc = parse_document(pdf, "book.pdf")
    by_chapter = {s.chapter: s for s in doc.sections if "Text under" in s.text}
    assert set(by_chapter) == {"Intro", "Method", "Results"}
    assert by_chapter["Results"].page == 2
    assert "Text under Results." in by_chapter["Results"].text
    assert "Text under Method." not in by_chapter["Results"].text
    assert [s.chapter for s in doc.sections if "Page three" in s.text] == ["Results"]


def test_pdf_errors() -> None:
    with pytest.raises(EncryptedDocument, match="password"):
        parse_document(make_pdf(["x"], password="pw"), "locked.pdf")
    with pytest.raises(CorruptDocument, match="not a readable PDF"):
        parse_document(b"%PDF-1.4 broken", "broken.pdf")
    with pytest.raises(EmptyDocument, match="no text layer"):
        parse_document(make_pdf([""]), "scan.pdf")


def test_epub_chapters_follow_the_toc_in_spine_order() -> None:
    doc = parse_document(make_epub([("One", "Alpha text."), ("Two", "Beta text.\n\nMore beta.")]), "b.epub")
    assert [s.chapter for s in doc.sections] == ["One", "Two"]
    assert "More beta." in doc.sections[1].text
    assert doc.author == "A. Writer"


def test_epub_errors() -> None:
    with pytest.raises(EncryptedDocument, match="DRM"):
        parse_document(make_drm_epub(), "drm.epub")
    with pytest.raises(CorruptDocument):
        parse_document(b"PK\x03\x04 nope", "bad.epub")


def test_html_keeps_the_article_and_its_headings() -> None:
    doc = parse_document(make_html("Title", [("Part A", "Alpha."), ("Part B", "Beta.")]), "c.html")
    assert doc.title == "Title"
    assert [s.chapter for s in doc.sections] == ["Part A", "Part B"]
    # The page's h1 has no text of its own; it stays as context of the first section.
    assert doc.sections[0].text.startswith("Title\nPart A")
    joined = " ".join(s.text for s in doc.sections)
    assert "Home" not in joined and "Copyright" not in joined and "script" not in joined


def test_nested_lists_are_read_once() -> None:
    html = b"<html><body><article><ul><li><p>outer</p><ul><li>inner</li></ul></li></ul></article></body></html>"
    text = parse_document(html, "d.html").sections[0].text
    assert text.count("inner") == 1 and text.count("outer") == 1


def test_markdown_chapters_and_code() -> None:
    md = b"# Book\n\n## One\n\nFirst *emphasis* text.\n\n```\ncode line\n```\n\n## Two\n\nSecond."
    doc = parse_document(md, "e.md")
    assert [s.chapter for s in doc.sections] == ["One", "Two"]
    assert "First emphasis text." in doc.sections[0].text
    assert "code line" in doc.sections[0].text
    assert doc.title == "Book"


def test_text_encodings() -> None:
    assert parse_document("Türkçe metin".encode("cp1254"), "f.txt").sections[0].text == "Türkçe metin"
    assert parse_document("\ufeffBOM text".encode(), "g.txt").sections[0].text == "BOM text"
    assert parse_document("utf16 text".encode("utf-16"), "h.txt").sections[0].text == "utf16 text"
    with pytest.raises(CorruptDocument, match="binary"):
        parse_document(b"\x00\x00\x01binary", "i.txt")
    with pytest.raises(EmptyDocument):
        parse_document(b"  \n ", "j.txt")


def test_format_detection_prefers_content_over_name() -> None:
    assert detect_format(make_pdf(["x"]), "misnamed.txt") == "pdf"
    assert detect_format(b"<!DOCTYPE html><html></html>", "page") == "html"
    with pytest.raises(UnsupportedMediaType, match="unsupported file type"):
        detect_format(b"\x89PNG....", "photo.png")
