"""DOCX and ODT files built by the tests: headings, paragraphs, a table, core properties."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import docx


def make_docx(
    chapters: list[tuple[str, list[str]]],
    *,
    title: str | None = "Test DOCX",
    author: str | None = "Ada Writer",
    table: list[list[str]] | None = None,
) -> bytes:
    """Returns a DOCX with a Heading 1 and its paragraphs per chapter, then ``table`` if given."""
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    if author is not None:
        document.core_properties.author = author
    for heading, paragraphs in chapters:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


_ODT_MIME = "application/vnd.oasis.opendocument.text"
_OFFICE = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
)


def make_odt(
    chapters: list[tuple[str, list[str]]],
    *,
    title: str | None = "Test ODT",
    author: str | None = "Odo Author",
    table: list[list[str]] | None = None,
    encrypted: bool = False,
) -> bytes:
    """Returns a minimal ODT: mimetype first and stored, content.xml, meta.xml and the manifest."""
    body: list[str] = []
    for heading, paragraphs in chapters:
        body.append(f'<text:h text:outline-level="1">{escape(heading)}</text:h>')
        body.extend(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    if table:
        rows = "".join(
            "<table:table-row>"
            + "".join(f"<table:table-cell><text:p>{escape(c)}</text:p></table:table-cell>" for c in row)
            + "</table:table-row>"
            for row in table
        )
        body.append(f'<table:table table:name="T1">{rows}</table:table>')
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_OFFICE} office:version="1.3">'
        f"<office:body><office:text>{''.join(body)}</office:text></office:body></office:document-content>"
    )
    meta_fields = (f"<dc:title>{escape(title)}</dc:title>" if title else "") + (
        f"<dc:creator>{escape(author)}</dc:creator>" if author else ""
    )
    meta = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {_OFFICE} office:version="1.3">'
        f"<office:meta>{meta_fields}</office:meta></office:document-meta>"
    )
    encryption = "<manifest:encryption-data/>" if encrypted else ""
    manifest = (
        f'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest {_OFFICE} manifest:version="1.3">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_ODT_MIME}"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">{encryption}'
        "</manifest:file-entry>"
        '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), _ODT_MIME, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("meta.xml", meta, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
