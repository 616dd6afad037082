"""DOCX: paragraphs and tables in document order, one chapter per Heading 1/2 (python-docx)."""

from __future__ import annotations

import io
import zipfile

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from tomehub.errors import CorruptDocument, EmptyDocument, EncryptedDocument
from tomehub.ingest.parsers.base import ParsedDocument
from tomehub.ingest.parsers.outline import OutlineWriter

# An encrypted Office file is not a zip at all but an OLE compound file holding the encrypted package.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# python-docx's default template names itself as the author of every document a script makes with it.
_PLACEHOLDER_AUTHORS = {"python-docx"}


def parse_docx(data: bytes, filename: str) -> ParsedDocument:
    if data.startswith(_OLE_MAGIC):
        raise EncryptedDocument(
            f"{filename} is password-protected (or an old .doc file); "
            "save it as an unprotected DOCX and upload it again."
        )
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise CorruptDocument(f"{filename} is not a readable DOCX ({exc.__class__.__name__}).") from exc
    except Exception as exc:  # lxml and the OPC reader raise many kinds for damaged parts
        raise CorruptDocument(f"{filename} is not a readable DOCX ({exc.__class__.__name__}).") from exc
    outline = OutlineWriter()
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            level = _heading_level(block)
            if level is None:
                outline.paragraph(block.text)
            else:
                outline.heading(block.text, level)
        elif isinstance(block, Table):
            for line in _table_lines(block):
                outline.paragraph(line)
    sections = outline.finish()
    if not sections:
        raise EmptyDocument(f"{filename} contains no readable text.")
    title, author = _core(document)
    return ParsedDocument(sections=sections, title=title or outline.title, author=author)


def _heading_level(paragraph: Paragraph) -> int | None:
    """Returns 0 for a Title paragraph, n for "Heading n", None for body text."""
    try:
        name = (paragraph.style.name if paragraph.style is not None else "") or ""
    except (KeyError, ValueError):
        return None
    if name == "Title":
        return 0
    if name.startswith("Heading "):
        level = name.removeprefix("Heading ").strip()
        return int(level) if level.isdigit() else None
    return None


def _table_lines(table: Table) -> list[str]:
    """Returns one line per table row: its cells' text, merged cells once, separated by " | "."""
    lines: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return lines


def _core(document: Document) -> tuple[str | None, str | None]:
    props = document.core_properties
    title = (props.title or "").strip() or None
    author = (props.author or "").strip() or None
    return title, None if author in _PLACEHOLDER_AUTHORS else author
