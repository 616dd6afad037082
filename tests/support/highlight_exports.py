"""Highlight exports built by the tests: Kindle's My Clippings.txt and a Readwise CSV."""

from __future__ import annotations

import csv
import io

READWISE_HEADER = [
    "Highlight",
    "Book Title",
    "Book Author",
    "Amazon Book ID",
    "Note",
    "Color",
    "Tags",
    "Location Type",
    "Location",
    "Highlighted at",
    "Document tags",
]


def clipping(book: str, kind: str, where: str, text: str = "") -> str:
    """Returns one My Clippings entry: ``kind`` is Highlight, Note or Bookmark, ``where`` e.g.
    "on page 12 | Location 170-172"."""
    return f"{book}\r\n- Your {kind} {where} | Added on Monday, 3 April 2023 10:00:00\r\n\r\n{text}\r\n==========\r\n"


def make_clippings(entries: list[str]) -> bytes:
    """Returns a My Clippings.txt as a Kindle writes it: a BOM, CRLF line ends."""
    return ("\ufeff" + "".join(entries)).encode("utf-8")


# 3 books, 5 highlights, a note held by the second highlight, a bookmark (skipped).
KINDLE_ENTRIES = [
    clipping(
        "The Name of the Wind (Rothfuss, Patrick)",
        "Highlight",
        "on page 12 | Location 170-172",
        "It's like everyone tells a story about themselves inside their own head.",
    ),
    clipping(
        "The Name of the Wind (Rothfuss, Patrick)",
        "Highlight",
        "on page 40 | Location 601-603",
        "The silence of a man who is waiting to die has a lantern-like quality.",
    ),
    clipping("The Name of the Wind (Rothfuss, Patrick)", "Note", "on page 40 | Location 603", "Compare the waystone."),
    clipping("Meditations (Marcus Aurelius)", "Bookmark", "on page 3 | Location 45"),
    clipping(
        "Meditations (Marcus Aurelius)",
        "Highlight",
        "on page 5 | Location 80-81",
        "You have power over your mind, not outside events; realise this and you will find strength.",
    ),
    clipping(
        "Meditations (Marcus Aurelius)",
        "Highlight",
        "Location 120-122",
        "The impediment to action advances action; what stands in the way becomes the way.",
    ),
    clipping(
        "Sapiens (Yuval Noah Harari)",
        "Highlight",
        "on page 27 | Location 390-392",
        "Fiction has enabled us not merely to imagine things, but to do so collectively.",
    ),
]


def make_readwise_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=READWISE_HEADER)
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in READWISE_HEADER})
    return out.getvalue().encode("utf-8")


READWISE_ROWS = [
    {
        "Highlight": "Deep work is the ability to focus without distraction on a cognitively demanding task.",
        "Book Title": "Deep Work",
        "Book Author": "Cal Newport",
        "Note": "The core definition, worth quoting.",
        "Tags": "focus, work",
        "Location Type": "page",
        "Location": "3",
    },
    {
        "Highlight": "Clarity about what matters provides clarity about what does not.",
        "Book Title": "Deep  work",
        "Book Author": "Newport, Cal",
        "Location Type": "location",
        "Location": "1234",
    },
    {
        "Highlight": "The map is not the territory, and the menu is not the meal.",
        "Book Title": "Thinking in Systems",
        "Book Author": "Donella Meadows",
        "Location Type": "order",
        "Location": "7",
    },
]
