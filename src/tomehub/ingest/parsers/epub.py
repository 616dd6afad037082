"""EPUB: the spine's documents in reading order, each named by its table-of-contents title (ebooklib)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import ebooklib
from ebooklib import epub

from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.ingest.parsers.html import html_sections


def parse_epub(data: bytes, filename: str) -> ParsedDocument:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "META-INF/encryption.xml" in archive.namelist():
                raise EncryptedDocument(f"{filename} is DRM-protected; TomeHub reads DRM-free EPUBs only.")
        book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": False})
    except EncryptedDocument:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError, epub.EpubException) as exc:
        raise CorruptDocument(f"{filename} is not a readable EPUB ({exc.__class__.__name__}).") from exc
    titles = _toc_titles(book.toc)
    sections: list[Section] = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        html = item.get_content().decode("utf-8", errors="replace")
        parts, page_title = html_sections(html)
        toc_title = titles.get(item.get_name())
        for part in parts:
            chapter = toc_title or part.chapter or page_title
            sections.append(Section(text=part.text, chapter=chapter))
    if not any(s.text.strip() for s in sections):
        raise EmptyDocument(f"{filename} contains no readable text.")
    return ParsedDocument(sections=sections, title=_first(book, "title"), author=_first(book, "creator"))


def _toc_titles(toc: Any) -> dict[str, str]:
    """Returns document href (without fragment) -> the first TOC title pointing at it."""
    titles: dict[str, str] = {}
    stack = list(toc) if isinstance(toc, list | tuple) else [toc]
    while stack:
        entry = stack.pop(0)
        if isinstance(entry, tuple) and len(entry) == 2:
            section, children = entry
            stack = [section, *children, *stack]
            continue
        href = getattr(entry, "href", None)
        title = getattr(entry, "title", None)
        if href and title:
            titles.setdefault(href.split("#", 1)[0], str(title))
    return titles


def _first(book: epub.EpubBook, name: str) -> str | None:
    values = book.get_metadata("DC", name)
    return str(values[0][0]) if values else None
