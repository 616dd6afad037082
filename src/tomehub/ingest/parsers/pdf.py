"""PDF: the text layer, page by page (pypdfium2, PDFium's own text extraction); scanned pages by OCR.

A page whose text layer is (almost) empty but which holds images is a scan: it is rendered and read by
Tesseract (parsers/ocr.py) in the same sandboxed child, keeps its page number, and its section is marked
``ocr`` so its chunks say their text was recognised, not extracted.
"""

from __future__ import annotations

from collections import Counter

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers import ocr
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.library.analysis import FALLBACK_CONFIG, detect_config

# Text-layer pages sampled to tell which language the scanned ones are in.
_LANGUAGE_SAMPLE_PAGES = 20


def parse_pdf(data: bytes, filename: str) -> ParsedDocument:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedDocument(
                f"{filename} is password-protected; remove the password and upload it again."
            ) from exc
        raise CorruptDocument(f"{filename} is not a readable PDF ({exc}).") from exc
    unread: str | None = None
    try:
        bookmarks = _bookmarks(pdf)
        texts: list[str] = []
        scanned: list[int] = []
        for index in range(len(pdf)):
            page = pdf[index]
            text = _text_layer(page)
            if len("".join(text.split())) < ocr.SCANNED_PAGE_MAX_CHARS and _has_images(page):
                scanned.append(index)
            page.close()
            texts.append(text)
        recognised: set[int] = set()
        if scanned:
            unread = ocr.unavailable_reason()
            if unread is None:
                recognised = _recognise(pdf, scanned, texts)
        sections: list[Section] = []
        chapter: str | None = None
        for index, text in enumerate(texts):
            for part, part_chapter in _split_at_bookmarks(text, bookmarks.get(index, []), chapter):
                chapter = part_chapter
                if part.strip():
                    sections.append(Section(text=part, page=index + 1, chapter=chapter, ocr=index in recognised))
        meta = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    if not sections:
        if unread is not None:
            raise EmptyDocument(f"{filename} is a scan (its pages are images) and {unread}.")
        raise EmptyDocument(f"{filename} has no text: no text layer, and OCR found none on its pages.")
    return ParsedDocument(sections=sections, title=meta.get("Title"), author=meta.get("Author"))


def _text_layer(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    text = str(textpage.get_text_bounded())
    textpage.close()
    # PDFium marks line ends with \r\n; soft hyphens split words across lines.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad\n", "").replace("\u00ad", "")


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))


def _recognise(pdf: pdfium.PdfDocument, scanned: list[int], texts: list[str]) -> set[int]:
    """OCRs the scanned pages (up to ocr.max_pages), replacing their text in ``texts``, and returns
    the indexes of the pages whose text now comes from OCR."""
    pages = scanned[: ocr.options().max_pages]
    scans = set(scanned)
    sample = [i for i, text in enumerate(texts) if i not in scans and text.strip()][:_LANGUAGE_SAMPLE_PAGES]
    configs = [detect_config(texts[i]) for i in sample]
    languages = [config for config, _n in Counter(configs).most_common() if config != FALLBACK_CONFIG]
    lang = ocr.language_for(languages)
    recognised: set[int] = set()
    read = ""
    ocr.report_pages(0, len(pages))
    for done, index in enumerate(pages, start=1):
        page = pdf[index]
        try:
            text = ocr.ocr_page(page, lang=lang).strip()
        finally:
            page.close()
        if text:
            texts[index] = text
            recognised.add(index)
            # A scan with no text layer at all: the first pages read tell its language for the rest.
            if not languages and len(read) < 4000:
                read += "\n" + text
                config = detect_config(read)
                if config != FALLBACK_CONFIG:
                    languages = [config]
                    lang = ocr.language_for(languages)
        ocr.report_pages(done, len(pages))
    return recognised


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
