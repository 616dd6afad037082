"""PDF: the text layer, page by page (pypdfium2, PDFium's own text extraction)."""

from __future__ import annotations

import pypdfium2 as pdfium

from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section


def parse_pdf(data: bytes, filename: str) -> ParsedDocument:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedDocument(
                f"{filename} is password-protected; remove the password and upload it again."
            ) from exc
        raise CorruptDocument(f"{filename} is not a readable PDF ({exc}).") from exc
    try:
        bookmarks = _bookmarks(pdf)
        sections: list[Section] = []
        chapter: str | None = None
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_bounded()
            textpage.close()
            page.close()
            # PDFium marks line ends with \r\n; soft hyphens split words across lines.
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad\n", "").replace("\u00ad", "")
            for part, part_chapter in _split_at_bookmarks(text, bookmarks.get(index, []), chapter):
                chapter = part_chapter
                if part.strip():
                    sections.append(Section(text=part, page=index + 1, chapter=chapter))
        meta = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    if not sections:
        raise EmptyDocument(f"{filename} has no text layer (a scan?); TomeHub reads text PDFs, not images.")
    return ParsedDocument(sections=sections, title=meta.get("Title"), author=meta.get("Author"))


def _bookmarks(pdf: pdfium.PdfDocument) -> dict[int, list[str]]:
    """Returns page index -> titles of the bookmarks (outline entries) pointing at that page."""
    found: dict[int, list[str]] = {}
    try:
        for bookmark in pdf.get_toc(max_depth=3):
            dest = bookmark.get_dest()
            title = (bookmark.get_title() or "").strip()
            if dest is not None and title and dest.get_index() is not None:
                found.setdefault(dest.get_index(), []).append(title[:200])
    except pdfium.PdfiumError:
        return {}
    return found


def _split_at_bookmarks(text: str, titles: list[str], chapter: str | None) -> list[tuple[str, str | None]]:
    """Cuts a page where its bookmarks' titles appear, so each part carries its own chapter. A title
    not found in the text starts its chapter at the top of the page."""
    parts: list[tuple[str, str | None]] = []
    start = 0
    for title in titles:
        at = text.find(title, start)
        if at < 0:
            if start == 0 and not parts:
                chapter = title
            continue
        parts.append((text[start:at], chapter))
        chapter, start = title, at
    parts.append((text[start:], chapter))
    return parts
