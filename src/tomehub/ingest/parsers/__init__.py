"""Document parsers, chosen by content (magic bytes) first and file name second."""

from __future__ import annotations

from collections.abc import Callable

from tomehub.errors import EmptyDocument, UnsupportedMediaType
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.ingest.parsers.docx import parse_docx
from tomehub.ingest.parsers.epub import parse_epub
from tomehub.ingest.parsers.highlights import KINDLE, READWISE, highlight_format, parse_highlight_document
from tomehub.ingest.parsers.html import parse_html
from tomehub.ingest.parsers.markdown import parse_markdown
from tomehub.ingest.parsers.odt import ODT_MIME, parse_odt
from tomehub.ingest.parsers.pdf import parse_pdf
from tomehub.ingest.parsers.text import parse_text

__all__ = ["SUPPORTED_EXTENSIONS", "ParsedDocument", "Section", "detect_format", "parse_document", "register_parser"]

Parser = Callable[[bytes, str], ParsedDocument]

_PARSERS: dict[str, Parser] = {
    "pdf": parse_pdf,
    "epub": parse_epub,
    "docx": parse_docx,
    "odt": parse_odt,
    "html": parse_html,
    "markdown": parse_markdown,
    "text": parse_text,
    # Highlight exports are imported as highlight items (ingest/highlights.py); read as a document,
    # each highlight is a section.
    KINDLE: parse_highlight_document,
    READWISE: parse_highlight_document,
}
_EXTENSIONS = {
    ".pdf": "pdf",
    ".epub": "epub",
    ".docx": "docx",
    ".odt": "odt",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}
# A CSV file is read when it is a Readwise export (its header says so).
SUPPORTED_EXTENSIONS = frozenset(_EXTENSIONS) | {".csv"}
MIME_TYPES = {
    "pdf": "application/pdf",
    "epub": "application/epub+zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": ODT_MIME,
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}


def detect_format(data: bytes, filename: str) -> str:
    """Returns the format of a file; raises UnsupportedMediaType for anything TomeHub cannot read."""
    head = data[:1024]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04") and b"mimetypeapplication/epub+zip" in head:
        return "epub"
    if head.startswith(b"PK\x03\x04") and b"mimetype" + ODT_MIME.encode() in head:
        return "odt"
    highlights = highlight_format(data, filename)
    if highlights is not None:
        return highlights
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "html"
        raise UnsupportedMediaType(
            f"{filename}: unsupported file type; TomeHub reads PDF, EPUB, DOCX, ODT, HTML, Markdown and plain text "
            f"({', '.join(sorted(_EXTENSIONS))}), Kindle's My Clippings.txt and Readwise CSV exports."
        )
    return fmt


def parse_document(data: bytes, filename: str) -> ParsedDocument:
    """Returns the parsed document; raises a DocumentError subclass for files that cannot be read."""
    if not data.strip():
        raise EmptyDocument(f"{filename} is empty.")
    return _PARSERS[detect_format(data, filename)](data, filename)


def register_parser(extension: str, fmt: str, parser: Parser) -> None:
    """Adds a parser for files named ``*<extension>`` (settings' ingest.parser_plugins call this, in the
    process that accepts uploads and in every parse child)."""
    _PARSERS[fmt] = parser
    _EXTENSIONS[extension.lower()] = fmt
