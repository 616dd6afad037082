"""Plain text, decoded from UTF-8 (with or without BOM), UTF-16, or the Turkish/Western code pages."""

from __future__ import annotations

from tomehub.errors import CorruptDocument, EmptyDocument
from tomehub.ingest.parsers.base import ParsedDocument, Section

_FALLBACK_ENCODINGS = ("cp1254", "cp1252")


def decode_text(data: bytes, filename: str) -> str:
    """Returns the text of ``data``; raises CorruptDocument for binary data."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise CorruptDocument(f"{filename} looks binary, not text; upload PDF, EPUB, HTML, Markdown or text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in _FALLBACK_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CorruptDocument(f"{filename} is not valid UTF-8 text.")


def parse_text(data: bytes, filename: str) -> ParsedDocument:
    text = decode_text(data, filename).replace("\r\n", "\n")
    if not text.strip():
        raise EmptyDocument(f"{filename} is empty.")
    return ParsedDocument(sections=[Section(text=text)])
