"""Document parsers, chosen by content (magic bytes) first and file name second."""

from __future__ import annotations

from collections.abc import Callable

from tomehub.errors import EmptyDocument, UnsupportedMediaType
from tomehub.ingest.parsers.base import ParsedDocument, Section
from tomehub.ingest.parsers.epub import parse_epub
from tomehub.ingest.parsers.html import parse_html
from tomehub.ingest.parsers.markdown import parse_markdown
from tomehub.ingest.parsers.pdf import parse_pdf
from tomehub.ingest.parsers.text import parse_text

__all__ = ["SUPPORTED_EXTENSIONS", "ParsedDocument", "Section", "detect_format", "parse_document"]

Parser = Callable[[bytes, str], ParsedDocument]

_PARSERS: dict[str, Parser] = {
    "pdf": parse_pdf,
    "epub": parse_epub,
    "html": parse_html,
    "markdown": parse_markdown,
    "text": parse_text,
}
_EXTENSIONS = {
    ".pdf": "pdf",
    ".epub": "epub",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
}
SUPPORTED_EXTENSIONS = frozenset(_EXTENSIONS)
MIME_TYPES = {
    "pdf": "application/pdf",
    "epub": "application/epub+zip",
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
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<!doctype html", b"<html")):
            return "html"
        raise UnsupportedMediaType(
            f"{filename}: unsupported file type; TomeHub reads PDF, EPUB, HTML, Markdown and plain text "
            f"({', '.join(sorted(SUPPORTED_EXTENSIONS))})."
        )
    return fmt


def parse_document(data: bytes, filename: str) -> ParsedDocument:
    """Returns the parsed document; raises a DocumentError subclass for files that cannot be read."""
    if not data.strip():
        raise EmptyDocument(f"{filename} is empty.")
    return _PARSERS[detect_format(data, filename)](data, filename)
