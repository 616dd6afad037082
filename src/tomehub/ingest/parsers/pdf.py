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
        sections = []
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_bounded()
            textpage.close()
            page.close()
            # PDFium marks line ends with \r\n; soft hyphens split words across lines.
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad\n", "").replace("\u00ad", "")
            if text.strip():
                sections.append(Section(text=text, page=index + 1))
        meta = pdf.get_metadata_dict(skip_empty=True)
    finally:
        pdf.close()
    if not sections:
        raise EmptyDocument(f"{filename} has no text layer (a scan?); TomeHub reads text PDFs, not images.")
    return ParsedDocument(sections=sections, title=meta.get("Title"), author=meta.get("Author"))
