"""Test documents in every supported format, built in memory (fpdf2 for PDF, ebooklib for EPUB)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from ebooklib import epub
from fpdf import FPDF

_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def make_pdf(
    pages: list[str],
    *,
    title: str = "Test PDF",
    password: str | None = None,
    bookmarks: dict[int, list[str]] | None = None,
) -> bytes:
    """Returns a PDF with one page per string (a real text layer); ``bookmarks`` maps a page index to
    section titles written as headings on that page and listed in the outline."""
    pdf = FPDF()
    pdf.set_title(title)
    if _FONT.exists():
        pdf.add_font("DejaVu", "", str(_FONT))
        pdf.set_font("DejaVu", size=11)
    else:  # pragma: no cover - CI machines carry DejaVu
        pdf.set_font("Helvetica", size=11)
    for n, text in enumerate(pages):
        pdf.add_page()
        for heading in (bookmarks or {}).get(n, []):
            pdf.start_section(heading)
            pdf.multi_cell(0, 6, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.multi_cell(0, 6, f"Text under {heading}.", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    if password is not None:
        pdf.set_encryption(owner_password=password, user_password=password)
    return bytes(pdf.output())


def make_epub(chapters: list[tuple[str, str]], *, title: str = "Test EPUB", author: str = "A. Writer") -> bytes:
    """Returns an EPUB with one XHTML document per (chapter title, text)."""
    book = epub.EpubBook()
    book.set_identifier("tomehub-test-epub")
    book.set_title(title)
    book.set_language("en")
    book.add_author(author)
    items = []
    for n, (name, text) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=name, file_name=f"chap_{n}.xhtml", lang="en")
        paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        item.content = f"<html><body><h1>{name}</h1>{paragraphs}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    epub.write_epub(out, book)
    return out.getvalue()


def make_drm_epub() -> bytes:
    """Returns an EPUB that declares encrypted content (as DRM-protected books do)."""
    data = make_epub([("One", "Locked text.")])
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr("META-INF/encryption.xml", "<encryption/>")
    return out.getvalue()


def make_html(title: str, sections: list[tuple[str, str]]) -> bytes:
    body = "".join(f"<h2>{h}</h2><p>{p}</p>" for h, p in sections)
    return (
        f"<!doctype html><html><head><title>{title}</title><script>var x = 'script text';</script></head>"
        f"<body><nav><a href='/'>Home</a> <a href='/about'>About us</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>"
        f"<footer>Copyright footer boilerplate</footer></body></html>"
    ).encode()
