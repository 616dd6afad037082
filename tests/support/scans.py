"""Scanned PDFs for the OCR tests, built in memory: each scanned page is an image of text (Pillow) with no
text layer; text pages have a real text layer (fpdf2), so one PDF can mix both."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
# A4 at 300 dpi, the resolution of a book scanner and of TomeHub's rendering.
_A4_300DPI = (2480, 3508)


def require_tesseract() -> None:
    """Skips the test when Tesseract or its English and Turkish data are missing (`make ocr` installs them)."""
    if shutil.which("tesseract") is None:
        pytest.skip("tesseract is not installed (make ocr: apt-get install tesseract-ocr tesseract-ocr-eng -tur)")
    import pytesseract

    missing = {"eng", "tur"} - set(pytesseract.get_languages(config=""))
    if missing:
        pytest.skip(f"tesseract lacks the language data {sorted(missing)} (apt-get install tesseract-ocr-eng -tur)")


def scanned_page(text: str) -> Image.Image:
    """Returns a grayscale A4 page image with ``text`` typeset on it, as a scanner would see it."""
    image = Image.new("L", _A4_300DPI, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(_FONT), 48) if _FONT.exists() else ImageFont.load_default(size=48)
    y = 250
    for paragraph in text.split("\n"):
        for line in textwrap.wrap(paragraph, 60):
            draw.text((220, y), line, fill=0, font=font)
            y += 70
        y += 40
    return image


def make_scanned_pdf(pages: list[str | Image.Image]) -> bytes:
    """Returns a PDF with one page per entry: a string is a text page (a real text layer), an image a
    scanned page (the image alone, no text)."""
    pdf = FPDF(unit="pt", format="A4")
    if _FONT.exists():
        pdf.add_font("DejaVu", "", str(_FONT))
        pdf.set_font("DejaVu", size=12)
    else:  # pragma: no cover - CI machines carry DejaVu
        pdf.set_font("Helvetica", size=12)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.multi_cell(0, 16, page)
        else:
            pdf.image(page, x=0, y=0, w=pdf.w, h=pdf.h)
    return bytes(pdf.output())
