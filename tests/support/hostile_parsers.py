"""Test-only parsers that attack their own process (ingest.parser_plugins = ["tests.support.hostile_parsers"]).

Imported in the test process and, through the setting, in every sandboxed parse child: ``*.segv`` files
segfault the parser, ``*.hang`` files sleep past any test timeout, ``*.hog`` files allocate without end.
"""

from __future__ import annotations

import os
import signal
import time

from tomehub.ingest.parsers import ParsedDocument, Section, register_parser

PLUGIN = __name__


def _segfault(data: bytes, filename: str) -> ParsedDocument:
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("still alive after SIGSEGV")


def _hang(data: bytes, filename: str) -> ParsedDocument:
    time.sleep(3600)
    return ParsedDocument(sections=[])


def _hog(data: bytes, filename: str) -> ParsedDocument:
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))
        if len(hoard) > 1024:  # 64 GB: no test limit lets it get here
            return ParsedDocument(sections=[Section(text="never")])


register_parser(".segv", "test-segfault", _segfault)
register_parser(".hang", "test-hang", _hang)
register_parser(".hog", "test-hog", _hog)


def make_bomb_epub(inflated_mb: int = 1024) -> bytes:
    """Returns a valid EPUB (about 1 MB) whose first chapter inflates to ``inflated_mb`` MB of zeros."""
    import io
    import zipfile

    from tests.support.documents import make_epub

    source = zipfile.ZipFile(io.BytesIO(make_epub([("Bomb", "Soon to be zeros."), ("Two", "Text.")])))
    out = io.BytesIO()
    zeros = bytes(1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            if info.filename.endswith("chap_1.xhtml"):
                # Streamed a megabyte at a time: the test never holds the inflated member itself.
                with bomb.open(info.filename, "w", force_zip64=True) as member:
                    for _ in range(inflated_mb):
                        member.write(zeros)
            else:
                compress = zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED
                bomb.writestr(info.filename, source.read(info.filename), compress_type=compress)
    return out.getvalue()


def _kill_worker(data: bytes, filename: str) -> ParsedDocument:
    # The sandboxed child's parent is the forkserver; the forkserver's parent is the worker itself.
    with open(f"/proc/{os.getppid()}/stat") as stat:
        worker = int(stat.read().rsplit(")", 1)[1].split()[1])
    os.kill(worker, signal.SIGKILL)
    time.sleep(3600)
    return ParsedDocument(sections=[])


register_parser(".die", "test-kill-worker", _kill_worker)


def _slow_ocr(data: bytes, filename: str) -> ParsedDocument:
    """Reports ``data`` (a page count) pages read, 0.4 s each: longer than the test's parse timeout in
    all, each page well within its OCR allowance."""
    from tomehub.ingest.parsers import ocr

    total = int(data)
    ocr.report_pages(0, total)
    for done in range(1, total + 1):
        time.sleep(0.4)
        ocr.report_pages(done, total)
    return ParsedDocument(sections=[Section(text=f"{total} pages read", page=1, ocr=True)])


def _ocr_hang(data: bytes, filename: str) -> ParsedDocument:
    """Says it will OCR 1000 pages, then hangs on the first."""
    from tomehub.ingest.parsers import ocr

    ocr.report_pages(0, 1000)
    time.sleep(3600)
    return ParsedDocument(sections=[])


register_parser(".slowocr", "test-slow-ocr", _slow_ocr)
register_parser(".ocrhang", "test-ocr-hang", _ocr_hang)
