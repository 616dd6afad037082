"""Kindle clippings and Readwise exports: books, places, notes attached, bookmarks skipped, stable keys."""

from __future__ import annotations

import pytest

from tests.support.highlight_exports import (
    KINDLE_ENTRIES,
    READWISE_ROWS,
    clipping,
    make_clippings,
    make_readwise_csv,
)
from tomehub.errors import EmptyDocument
from tomehub.ingest.parsers import detect_format, parse_document
from tomehub.ingest.parsers.highlights import KINDLE, READWISE, fold_author, highlight_format, read_highlights


def test_kindle_clippings_highlights_with_their_notes() -> None:
    found = read_highlights(make_clippings(KINDLE_ENTRIES), "My Clippings.txt", KINDLE)
    assert len(found) == 5
    assert not any(h.is_note for h in found)
    assert {h.book_title for h in found} == {"The Name of the Wind", "Meditations", "Sapiens"}
    first, second = found[0], found[1]
    assert (first.book_author, first.page, first.location) == ("Rothfuss, Patrick", 12, "170-172")
    assert first.note is None
    assert second.note == "Compare the waystone."
    assert second.full_text.endswith("Note: Compare the waystone.")
    no_page = next(h for h in found if h.location == "120-122")
    assert no_page.page is None


def test_a_note_no_highlight_holds_stays_a_note() -> None:
    entries = [clipping("Walden (Henry David Thoreau)", "Note", "on page 9 | Location 99", "Simplify, simplify.")]
    (note,) = read_highlights(make_clippings(entries), "my clippings.txt", KINDLE)
    assert note.is_note
    assert note.text == "Simplify, simplify."


def test_keys_are_stable_and_tell_highlights_apart() -> None:
    once = read_highlights(make_clippings(KINDLE_ENTRIES), "My Clippings.txt", KINDLE)
    again = read_highlights(make_clippings(KINDLE_ENTRIES), "My Clippings.txt", KINDLE)
    assert [h.key for h in once] == [h.key for h in again]
    assert len({h.key for h in once}) == 5


def test_readwise_rows() -> None:
    found = read_highlights(make_readwise_csv(READWISE_ROWS), "export.csv", READWISE)
    assert len(found) == 3
    assert found[0].page == 3
    assert found[0].note == "The core definition, worth quoting."
    assert found[0].tags == ("focus", "work")
    assert found[1].location == "location 1234"
    assert fold_author(found[0].book_author) == fold_author(found[1].book_author)


def test_exports_are_recognised_by_name_or_header() -> None:
    assert highlight_format(b"", "Kindle/documents/MY CLIPPINGS.TXT") == KINDLE
    assert highlight_format(make_readwise_csv([]), "readwise-export.csv") == READWISE
    assert highlight_format(b"a,b\n1,2\n", "numbers.csv") is None
    assert highlight_format(b"plain", "notes.txt") is None
    assert detect_format(make_readwise_csv(READWISE_ROWS), "export.csv") == READWISE
    doc = parse_document(make_clippings(KINDLE_ENTRIES), "My Clippings.txt")
    assert len(doc.sections) == 5
    assert doc.sections[0].chapter == "The Name of the Wind"


def test_an_export_without_highlights_is_empty() -> None:
    with pytest.raises(EmptyDocument, match="no highlights"):
        read_highlights(make_clippings([clipping("A (B)", "Bookmark", "on page 1")]), "My Clippings.txt", KINDLE)
    with pytest.raises(EmptyDocument, match="no highlights"):
        read_highlights(make_readwise_csv([]), "export.csv", READWISE)
