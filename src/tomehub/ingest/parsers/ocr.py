"""OCR of scanned pages: rendered by pypdfium2, read by Tesseract (Debian's tesseract-ocr, via pytesseract).

It runs inside the parser sandbox's child process (ingest/sandbox.py), so a page that hangs or eats
memory costs its file only. The sandbox hands the child its options once, when the child starts
(``configure``), and a progress file for each parse (``reporting_to``): the parser signature stays
``parse(data, filename)``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pypdfium2 as pdfium

# Tesseract's language codes for the text-search configurations language detection gives
# (library/analysis.py), so the document's own language goes first.
_TESSERACT_CODES = {
    "english": "eng",
    "turkish": "tur",
    "german": "deu",
    "french": "fra",
    "spanish": "spa",
    "italian": "ita",
    "dutch": "nld",
    "portuguese": "por",
    "russian": "rus",
    "arabic": "ara",
}
# A page's text layer with fewer characters than this (page numbers, a stamp) is a scan.
SCANNED_PAGE_MAX_CHARS = 20
# Above this many pixels a page is rendered at a lower resolution: a poster-sized page at 300 dpi
# would not fit the child's address-space cap.
_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class OcrOptions:
    enabled: bool = True
    languages: tuple[str, ...] = ("eng", "tur")
    dpi: int = 300
    page_timeout_s: float = 30.0
    max_pages: int = 500


class OcrUnavailable(Exception):
    """Tesseract is not installed (or OCR is off); the reason says which and what to do."""


_options = OcrOptions()
_progress_path: str | None = None


def configure(options: OcrOptions) -> None:
    """Sets this process's OCR options (the sandbox calls it when a child starts)."""
    global _options
    _options = options


def options() -> OcrOptions:
    return _options


@contextlib.contextmanager
def reporting_to(path: str | None) -> Iterator[None]:
    """Sends the page progress of the parse run inside this block to ``path`` (the sandbox polls it)."""
    global _progress_path
    _progress_path = path
    try:
        yield
    finally:
        _progress_path = None


def report_pages(done: int, total: int) -> None:
    """Records that ``done`` of ``total`` pages to OCR are read. Written to a new file and renamed over
    the old one, so the reader never sees half a line, whatever happens to this process."""
    if _progress_path is None:
        return
    tmp = f"{_progress_path}.tmp"
    with open(tmp, "w") as out:
        out.write(f"{done} {total}\n")
    os.replace(tmp, _progress_path)


def read_progress(path: str) -> tuple[int, int] | None:
    """Returns (pages done, pages total) reported so far, or None before any report."""
    try:
        with open(path) as src:
            done, total = src.read().split()
        return int(done), int(total)
    except (OSError, ValueError):
        return None


def unavailable_reason(opts: OcrOptions | None = None) -> str | None:
    """Returns why OCR cannot run here (off, Tesseract or its languages missing), or None when it can."""
    opts = opts or _options
    if not opts.enabled:
        return "OCR is turned off (TOMEHUB_INGEST__OCR)"
    if not _tesseract_installed():
        return "OCR is not available: Tesseract is not installed (apt-get install tesseract-ocr, or `make ocr`)"
    if not _usable_languages(opts.languages):
        wanted = ", ".join(opts.languages)
        return (
            f"OCR is not available: Tesseract has none of the languages {wanted} "
            "(install their tesseract-ocr-<language> packages)"
        )
    return None


@cache
def _tesseract_installed() -> bool:
    import pytesseract

    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


@cache
def _available_languages() -> frozenset[str]:
    import pytesseract

    try:
        return frozenset(pytesseract.get_languages(config=""))
    except (OSError, pytesseract.TesseractError):
        # A broken install (no tessdata): OCR is then unavailable, said once, instead of failing files.
        return frozenset()


def _usable_languages(wanted: Sequence[str]) -> list[str]:
    available = _available_languages()
    return [code for code in wanted if code in available]


def language_for(configs: Sequence[str]) -> str:
    """Returns Tesseract's ``lang`` argument: the configured languages Tesseract has, the ones the
    document's text is written in (its text-search configurations, most frequent first) leading,
    since Tesseract weighs its first language most."""
    wanted = list(_options.languages)
    for config in reversed(list(dict.fromkeys(configs))):
        code = _TESSERACT_CODES.get(config)
        if code in wanted:
            wanted.remove(code)
            wanted.insert(0, code)
    return "+".join(_usable_languages(wanted))


def ocr_page(page: pdfium.PdfPage, *, lang: str) -> str:
    """Returns the text Tesseract reads on a rendered page ("" for a page it could not read in time)."""
    import pytesseract

    width, height = page.get_size()  # in points, 72 to the inch
    scale = _options.dpi / 72
    pixels = width * scale * height * scale
    if pixels > _MAX_PIXELS:
        scale *= (_MAX_PIXELS / pixels) ** 0.5
    # Tesseract's OpenMP threads make a page 5x slower on two cores (measured: 7-9 s against 1.3-1.9 s
    # for an A4 page at 300 dpi), and the worker's other files and the embedder want the cores anyway.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        image = bitmap.to_pil()
        # --psm 3: automatic page segmentation (columns, headings), Tesseract's default for a page.
        text = pytesseract.image_to_string(image, lang=lang, config="--psm 3", timeout=_options.page_timeout_s)
    except pytesseract.TesseractError:
        # Tesseract refused the image (its own error, not ours): that page stays unread.
        return ""
    except RuntimeError as exc:
        # pytesseract kills a Tesseract that overruns its timeout and says so; that page stays unread.
        if "timeout" in str(exc).lower():
            return ""
        raise
    finally:
        bitmap.close()
    return str(text)
