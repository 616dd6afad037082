"""ODT: content.xml's headings, paragraphs, lists and tables in order; title and author from meta.xml.

Read with the standard library (zipfile + ElementTree): an ODF text document is a zip of a few XML
parts, and TomeHub needs only their text, so no ODF library is worth its weight here.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers.base import ParsedDocument
from tomehub.ingest.parsers.outline import OutlineWriter

ODT_MIME = "application/vnd.oasis.opendocument.text"
_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_TEXT = f"{{{_NS['text']}}}"
_TABLE = f"{{{_NS['table']}}}"
# Parts this large are not prose a person wrote; refuse them before ElementTree builds the tree.
_MAX_PART_BYTES = 256 * 1024 * 1024


def parse_odt(data: bytes, filename: str) -> ParsedDocument:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "META-INF/manifest.xml" in names and b"encryption-data" in archive.read("META-INF/manifest.xml"):
                raise EncryptedDocument(
                    f"{filename} is password-protected; save it without a password and upload it again."
                )
            content = _part(archive, "content.xml", filename)
            meta = _part(archive, "meta.xml", filename) if "meta.xml" in names else None
        body = ET.fromstring(content).find("office:body/office:text", _NS)
        meta_root = ET.fromstring(meta) if meta else None
    except EncryptedDocument:
        raise
    except (zipfile.BadZipFile, KeyError, ET.ParseError, RuntimeError, ValueError) as exc:
        raise CorruptDocument(f"{filename} is not a readable ODT ({exc.__class__.__name__}).") from exc
    outline = OutlineWriter()
    if body is not None:
        _walk(body, outline)
    sections = outline.finish()
    if not sections:
        raise EmptyDocument(f"{filename} contains no readable text.")
    title = author = None
    if meta_root is not None:
        title = _meta_text(meta_root, "office:meta/dc:title")
        author = _meta_text(meta_root, "office:meta/dc:creator") or _meta_text(
            meta_root, "office:meta/meta:initial-creator"
        )
    return ParsedDocument(sections=sections, title=title or outline.title, author=author)


def _part(archive: zipfile.ZipFile, name: str, filename: str) -> bytes:
    if archive.getinfo(name).file_size > _MAX_PART_BYTES:
        raise CorruptDocument(f"{filename}: its {name} is over {_MAX_PART_BYTES // 2**20} MB.")
    return archive.read(name)


def _walk(element: ET.Element, outline: OutlineWriter) -> None:
    """Feeds the outline each heading, paragraph and table row below ``element``, in order."""
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}h":
            level = child.get(f"{_TEXT}outline-level", "1")
            outline.heading(_inline_text(child), int(level) if level.isdigit() else 1)
        elif tag == f"{_TEXT}p":
            outline.paragraph(_inline_text(child))
        elif tag == f"{_TABLE}table-row":
            cells = [" ".join(_cell_text(cell).split()) for cell in child if cell.tag == f"{_TABLE}table-cell"]
            line = " | ".join(c for c in cells if c)
            if line:
                outline.paragraph(line)
        elif tag in {f"{_TEXT}tracked-changes", f"{_TEXT}sequence-decls", f"{_TEXT}variable-decls"}:
            continue  # bookkeeping, not the document's text
        else:
            # Lists, sections, tables and their row groups hold the blocks above.
            _walk(child, outline)


def _cell_text(cell: ET.Element) -> str:
    return " ".join(_inline_text(p) for p in cell.iter() if p.tag in {f"{_TEXT}p", f"{_TEXT}h"})


def _inline_text(element: ET.Element) -> str:
    """Returns a paragraph's text with ODF's encoded spaces, tabs and line breaks restored."""
    parts: list[str] = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}s":
            count = child.get(f"{_TEXT}c", "1")
            parts.append(" " * (int(count) if count.isdigit() else 1))
        elif tag == f"{_TEXT}tab":
            parts.append("\t")
        elif tag == f"{_TEXT}line-break":
            parts.append("\n")
        elif tag in {f"{_TEXT}note", f"{_TEXT}bookmark", f"{_TEXT}bookmark-start", f"{_TEXT}bookmark-end"}:
            pass  # footnotes would break the sentence they sit in
        else:
            parts.append(_inline_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _meta_text(root: ET.Element, path: str) -> str | None:
    node = root.find(path, _NS)
    text = (node.text or "").strip() if node is not None else ""
    return text or None
