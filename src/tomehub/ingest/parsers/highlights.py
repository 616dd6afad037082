"""Highlight exports: Kindle's ``My Clippings.txt`` and Readwise's CSV, read into highlights.

Each highlight remembers its book (title, author), where it sits (page, location) and the note its
reader attached. Kindle keeps notes as entries of their own; a note is attached to the highlight of
the same book whose location range holds the note's location (Kindle places it at the highlight's
end), and stays a note of its own when no highlight holds it. Bookmarks carry no text and are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import PurePath

from tomehub.errors import CorruptDocument, EmptyDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.ingest.parsers.text import decode_text

KINDLE = "kindle_clippings"
READWISE = "readwise_csv"
HIGHLIGHT_FORMATS = frozenset({KINDLE, READWISE})

_KINDLE_NAME = re.compile(r"my clippings.*\.txt", re.IGNORECASE)
_SEPARATOR = re.compile(r"^==========\s*$", re.MULTILINE)
_TITLE_AUTHOR = re.compile(r"^(?P<title>.*?)\s*\((?P<author>[^()]*)\)\s*$")
_PAGE = re.compile(r"\bpage\s+(\d+)", re.IGNORECASE)
_LOCATION = re.compile(r"\blocation\s+(\d+)(?:\s*-\s*(\d+))?", re.IGNORECASE)
# The columns that make a CSV a Readwise export; the others (Color, Tags, ...) are optional.
_READWISE_COLUMNS = {"Highlight", "Book Title", "Book Author"}


@dataclass(frozen=True)
class Highlight:
    """One highlighted passage (or a note with no highlight) of a book."""

    book_title: str
    book_author: str | None
    text: str
    note: str | None = None
    page: int | None = None
    location: str | None = None
    is_note: bool = False
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Returns what makes this highlight the same one on every import: book, place and text."""
        text_hash = hashlib.sha256(fold(self.text).encode()).hexdigest()
        place = self.location or (str(self.page) if self.page is not None else "")
        kind = "note" if self.is_note else "highlight"
        parts = [kind, fold(self.book_title), fold_author(self.book_author), place, text_hash]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    @property
    def full_text(self) -> str:
        """Returns the text indexed for this highlight: the passage, then the reader's note."""
        return f"{self.text}\n\nNote: {self.note}" if self.note else self.text


def fold(text: str | None) -> str:
    """Returns ``text`` lower-cased with its whitespace collapsed (how titles are compared)."""
    return " ".join((text or "").split()).casefold()


def fold_author(author: str | None) -> str:
    """Returns an author's name as a sorted set of words, so "Tolstoy, Leo" matches "Leo Tolstoy"."""
    words = re.findall(r"\w+", (author or "").casefold())
    return " ".join(sorted(words))


def highlight_format(data: bytes, filename: str) -> str | None:
    """Returns KINDLE or READWISE when the file is such an export, else None."""
    name = PurePath(filename).name
    if _KINDLE_NAME.fullmatch(name):
        return KINDLE
    if name.lower().endswith(".csv") and is_readwise_csv(data):
        return READWISE
    return None


def is_readwise_csv(data: bytes) -> bool:
    first_line = data[:4096].split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    try:
        header = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        return False
    return {column.strip() for column in header} >= _READWISE_COLUMNS


def read_highlights(data: bytes, filename: str, fmt: str) -> list[Highlight]:
    """Returns the highlights (and unattached notes) of an export; raises EmptyDocument if none."""
    found = parse_kindle(data, filename) if fmt == KINDLE else parse_readwise(data, filename)
    if not found:
        raise EmptyDocument(f"{filename} holds no highlights or notes.")
    return found


def parse_kindle(data: bytes, filename: str) -> list[Highlight]:
    text = decode_text(data, filename).replace("\r\n", "\n").replace("\ufeff", "")
    highlights: list[Highlight] = []
    notes: list[Highlight] = []
    for entry in _SEPARATOR.split(text):
        lines = [line.strip() for line in entry.strip().split("\n")]
        if len(lines) < 2 or not lines[1].startswith("-"):
            continue
        title, author = _title_and_author(lines[0])
        meta = lines[1]
        kind = meta.lstrip("- ").split(" ", 2)[1].lower() if len(meta.split()) > 2 else ""
        body = "\n".join(lines[2:]).strip()
        if "bookmark" in kind or not body:
            continue
        page_match = _PAGE.search(meta)
        location_match = _LOCATION.search(meta)
        location = None
        if location_match:
            location = location_match.group(1) + (f"-{location_match.group(2)}" if location_match.group(2) else "")
        found = Highlight(
            book_title=title,
            book_author=author,
            text=body,
            page=int(page_match.group(1)) if page_match else None,
            location=location,
            is_note="note" in kind,
        )
        (notes if found.is_note else highlights).append(found)
    return _attach_notes(highlights, notes)


def _title_and_author(line: str) -> tuple[str, str | None]:
    match = _TITLE_AUTHOR.match(line)
    if match and match.group("title").strip():
        return match.group("title").strip()[:500], match.group("author").strip()[:300] or None
    return line.strip()[:500] or "Untitled", None


def _attach_notes(highlights: list[Highlight], notes: list[Highlight]) -> list[Highlight]:
    """Returns the highlights with each note attached to the one holding its location; notes that
    no highlight holds follow as notes of their own."""
    alone: list[Highlight] = []
    for note in notes:
        at = _location_range(note.location)
        target = None
        for index, highlight in enumerate(highlights):
            if fold(highlight.book_title) != fold(note.book_title):
                continue
            span = _location_range(highlight.location)
            inside = bool(at and span and span[0] <= at[0] <= span[1])
            same_page = not at and note.page is not None and note.page == highlight.page
            if inside or same_page:
                target = index
        if target is None:
            alone.append(note)
        else:
            held = highlights[target]
            note_text = f"{held.note}\n{note.text}" if held.note else note.text
            highlights[target] = replace(held, note=note_text)
    return highlights + alone


def _location_range(location: str | None) -> tuple[int, int] | None:
    if not location:
        return None
    start, _, end = location.partition("-")
    return int(start), int(end or start)


def parse_readwise(data: bytes, filename: str) -> list[Highlight]:
    text = decode_text(data, filename)
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise CorruptDocument(f"{filename} is not a readable CSV file ({exc}).") from exc
    found: list[Highlight] = []
    for row in rows:
        cells = {(key or "").strip(): (value or "").strip() for key, value in row.items() if isinstance(value, str)}
        body = cells.get("Highlight", "")
        if not body:
            continue
        where = cells.get("Location", "")
        where_type = cells.get("Location Type", "").lower()
        page = int(where) if where_type == "page" and where.isdigit() else None
        tags = tuple(t.strip() for t in cells.get("Tags", "").split(",") if t.strip())
        found.append(
            Highlight(
                book_title=(cells.get("Book Title") or "Untitled")[:500],
                book_author=cells.get("Book Author", "")[:300] or None,
                text=body,
                note=cells.get("Note") or None,
                page=page,
                location=None if page is not None or not where else f"{where_type or 'location'} {where}"[:100],
                tags=tags,
            )
        )
    return found


def parse_highlight_document(data: bytes, filename: str) -> ParsedDocument:
    """Returns an export's highlights as a document (one section per highlight, its book as chapter),
    for callers that read every file as a document."""
    fmt = highlight_format(data, filename) or KINDLE
    sections = [
        Section(text=h.full_text, page=h.page, chapter=h.book_title[:200]) for h in read_highlights(data, filename, fmt)
    ]
    return ParsedDocument(sections=sections, title=PurePath(filename).stem)
