"""Parsers in a sandbox: every file is parsed in a child process with capped memory and time.

PDFium, lxml and zip inflation run on hostile input. In a child process a segfault, a hang or a
decompression bomb costs that child (and that file) only: the worker goes on with the next file.
Children come from a small pool and stay warm between files (the parsers are imported once, when
the child starts); one that dies, hangs or runs out of memory is replaced with its whole pool.

The children start from a forkserver, never by forking the threaded asyncio process itself.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from tomehub.config import IngestSettings
from tomehub.errors import ParserCrashed, ParserFailed, ParserOutOfMemory, ParserTimedOut
from tomehub.ingest.parsers import ParsedDocument, ocr, parse_document

_log = logging.getLogger(__name__)

_PRELOAD = ["tomehub.ingest.parsers"]
# How often the parent looks at a running parse's page progress (OCR).
_POLL_S = 0.25
_warned_no_ocr = False

# Called with (pages done, pages total) of a file's OCR, in the thread that called parse.
PageProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class SandboxLimits:
    memory_limit_mb: int
    timeout_s: float
    workers: int
    plugins: tuple[str, ...] = ()
    ocr_options: ocr.OcrOptions = field(default_factory=ocr.OcrOptions)

    @classmethod
    def of(cls, settings: IngestSettings) -> SandboxLimits:
        return cls(
            memory_limit_mb=settings.parse_memory_limit_mb,
            timeout_s=settings.parse_timeout_s,
            workers=settings.parse_workers,
            plugins=tuple(settings.parser_plugins),
            ocr_options=ocr.OcrOptions(
                enabled=settings.ocr,
                languages=tuple(settings.ocr_languages),
                dpi=settings.ocr_dpi,
                page_timeout_s=settings.ocr_page_timeout_s,
                max_pages=settings.ocr_max_pages,
            ),
        )


def load_plugins(plugins: Sequence[str]) -> None:
    """Imports the modules that register extra parsers (ingest.parser_plugins)."""
    for name in plugins:
        importlib.import_module(name)


def _start_child(memory_limit_mb: int, plugins: tuple[str, ...], ocr_options: ocr.OcrOptions) -> None:
    # A pool's child waits for work on a pipe it holds both ends of, so it would outlive a worker that
    # was killed (and keep the forkserver alive with it): it watches its parent and leaves with it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="parent-watch", daemon=True).start()
    # The cap is on address space, not resident memory: a bomb fails at its allocation (MemoryError)
    # instead of pushing the machine into swap or the OOM killer.
    limit = memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # Ctrl-C goes to the whole process group; the parent decides when its children stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ocr.configure(ocr_options)
    load_plugins(plugins)


def _exit_with(parent_sentinel: int) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(0)


def _parse_in_child(data: bytes, filename: str, progress_path: str) -> ParsedDocument:
    with ocr.reporting_to(progress_path):
        return parse_document(data, filename)


class ParserSandbox:
    """A small pool of warm child processes that parse files under a memory cap and a time limit."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        # One file per child at a time, so a file's time limit counts its parsing, not its wait.
        self._slots = threading.BoundedSemaphore(limits.workers)
        self._pool: ProcessPoolExecutor | None = None
        # Pools retired on purpose (a timeout, a memory error): their other files are not to blame.
        self._retired: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()
        load_plugins(limits.plugins)
        _warn_if_no_ocr(limits.ocr_options)

    def parse(self, data: bytes, filename: str, *, on_pages: PageProgress | None = None) -> ParsedDocument:
        """Returns the parsed document; raises a DocumentError subclass when the file cannot be read,
        crashes its parser, runs out of memory or takes too long. Blocking: call it off the event loop.
        ``on_pages`` hears the OCR progress of scanned pages (pages done, pages total) as it goes."""
        with self._slots:
            # A file whose pool broke under another file's crash (or was retired for it) gets one
            # more try on a fresh pool; a file that breaks the pool on its own is the culprit.
            for attempt in (1, 2):
                pool = self._current_pool()
                # The child reports its pages in a file of its own: nothing shared that a child killed
                # mid-write could leave locked or half-written (ocr.report_pages renames it into place).
                fd, progress_path = tempfile.mkstemp(prefix="tomehub-parse-", suffix=".pages")
                os.close(fd)
                pages = _Pages(progress_path, on_pages)
                children: list[Any] = []
                try:
                    future = pool.submit(_parse_in_child, data, filename, progress_path)
                    # Taken now: once the pool breaks, its manager thread may empty its list of
                    # children before _retire reads it, and the crash's signal would be lost.
                    children = _children(pool)
                    return self._wait(future, pages)
                except FutureTimeout:
                    self._retire(pool, kill=True)
                    raise ParserTimedOut(self._timed_out(filename, pages)) from None
                except MemoryError:
                    # The child survives a failed allocation, but its heap may be fragmented or
                    # half-built: start a clean one.
                    self._retire(pool, kill=True)
                    raise ParserOutOfMemory(self._out_of_memory(filename)) from None
                except BrokenProcessPool:
                    blameless = pool in self._retired or self.limits.workers > 1
                    exitcode = self._retire(pool, kill=False, children=children)
                    if attempt == 1 and blameless:
                        continue
                    raise self._crashed(filename, exitcode) from None
                finally:
                    pages.remove()
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, future: Future[ParsedDocument], pages: _Pages) -> ParsedDocument:
        """Returns the child's result, passing its page progress on meanwhile; raises FutureTimeout past
        the parse's time limit, which grows with the pages the child has OCR'd (see _limit_s)."""
        started = time.monotonic()
        while True:
            remaining = started + self._limit_s(pages) - time.monotonic()
            if remaining <= 0:
                raise FutureTimeout
            try:
                result = future.result(timeout=min(remaining, _POLL_S))
            except FutureTimeout:
                pages.poll()
                continue
            pages.poll()
            return result

    def _limit_s(self, pages: _Pages) -> float:
        """The parse's time limit: parse_timeout_s, plus ocr_page_timeout_s for each page OCR'd and the
        one under way. It is bounded (the child OCRs at most ocr_max_pages), so a hang is still killed."""
        done, total = pages.seen
        return self.limits.timeout_s + self.limits.ocr_options.page_timeout_s * min(done + 1, total)

    def _timed_out(self, filename: str, pages: _Pages) -> str:
        message = f"{filename} could not be parsed: it timed out after {self._limit_s(pages):g} s "
        done, total = pages.seen
        if total:
            return message + (
                f"with {done} of {total} scanned pages OCR'd (TOMEHUB_INGEST__PARSE_TIMEOUT_S, "
                "plus TOMEHUB_INGEST__OCR_PAGE_TIMEOUT_S a page)."
            )
        return message + "(TOMEHUB_INGEST__PARSE_TIMEOUT_S)."

    def warm_up(self) -> None:
        """Starts a child now: the forkserver importing the parsers takes ~2 s, which the first file
        would otherwise wait for."""
        self.parse(b"# Warm-up\n\nA paragraph.", "warm-up.md")

    def close(self) -> None:
        """Stops the children (a new pool starts if another file comes)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _current_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                # Each child forks from a server that has the parsers imported: a replaced pool is warm
                # in milliseconds.
                context.set_forkserver_preload(_PRELOAD)
                self._pool = ProcessPoolExecutor(
                    max_workers=self.limits.workers,
                    mp_context=context,
                    initializer=_start_child,
                    initargs=(self.limits.memory_limit_mb, self.limits.plugins, self.limits.ocr_options),
                )
            return self._pool

    def _retire(self, pool: ProcessPoolExecutor, *, kill: bool, children: list[Any] | None = None) -> int | None:
        """Replaces the pool (if it is still current) and returns the exit code of a child that died
        of a signal, if one did (``children``: the pool's children as seen before it broke)."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
                self._retired.add(pool)
        children = children or _children(pool)
        if kill:
            for child in children:
                child.kill()
        # A broken pool's manager thread joins its children itself. Two joins of one child at once
        # race for the exit status the forkserver writes once: the loser reads EOF and records 255
        # over the signal (multiprocessing's popen_forkserver.poll; 10 crashes in 380 lost their
        # signal here). So the manager thread finishes first; shutdown forgets it, so it is read before.
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        if manager is not None:
            manager.join(timeout=5)
        for child in children:
            child.join(timeout=5)
        codes = [child.exitcode for child in children if child.exitcode is not None and child.exitcode < 0]
        # The pool terminates the survivors with SIGTERM once one child dies: the other signal is the cause.
        causes = [code for code in codes if code != -signal.SIGTERM] or codes
        return causes[0] if causes else None

    def _out_of_memory(self, filename: str) -> str:
        return (
            f"{filename} could not be parsed: it ran out of memory at {self.limits.memory_limit_mb} MB "
            "(TOMEHUB_INGEST__PARSE_MEMORY_LIMIT_MB)."
        )

    def _crashed(self, filename: str, exitcode: int | None) -> ParserFailed:
        if exitcode == -signal.SIGKILL:
            # Nothing here sends SIGKILL to a running parse: the kernel's OOM killer does.
            return ParserOutOfMemory(
                f"{filename} could not be parsed: its parser was killed (signal 9), most likely out of memory."
            )
        cause = f"signal {-exitcode}" if exitcode is not None else "it exited"
        return ParserCrashed(f"{filename} could not be parsed: it crashed the parser ({cause}).")


def _children(pool: ProcessPoolExecutor) -> list[Any]:
    """The pool's child processes. The pool keeps them private; they are read only to kill them and
    learn why one died."""
    return list((getattr(pool, "_processes", None) or {}).values())


class _Pages:
    """A parse's page progress: the file its child reports to, and the caller's callback."""

    def __init__(self, path: str, on_pages: PageProgress | None) -> None:
        self.path = path
        self.on_pages = on_pages
        self.seen = (0, 0)

    def poll(self) -> None:
        progress = ocr.read_progress(self.path)
        if progress is None or progress == self.seen:
            return
        self.seen = progress
        if self.on_pages is not None:
            try:
                self.on_pages(*progress)
            except Exception:
                # Progress is for the user's eyes: a failure to show it must not fail the file.
                _log.warning("page progress callback failed", exc_info=True)

    def remove(self) -> None:
        for path in (self.path, f"{self.path}.tmp"):
            with contextlib.suppress(OSError):
                os.remove(path)


def _warn_if_no_ocr(options: ocr.OcrOptions) -> None:
    """Says once per process that scanned pages will not be read, and why."""
    global _warned_no_ocr
    if not options.enabled or _warned_no_ocr:
        return
    reason = ocr.unavailable_reason(options)
    if reason is not None:
        _warned_no_ocr = True
        _log.warning("%s: scanned PDF pages will be skipped", reason)


_sandboxes: dict[SandboxLimits, ParserSandbox] = {}
_sandboxes_lock = threading.Lock()


def sandbox_for(settings: IngestSettings) -> ParserSandbox:
    """Returns the process's sandbox for these limits (one pool per process, started on first use)."""
    limits = SandboxLimits.of(settings)
    with _sandboxes_lock:
        sandbox = _sandboxes.get(limits)
        if sandbox is None:
            sandbox = _sandboxes[limits] = ParserSandbox(limits)
        return sandbox


def parse_sandboxed(
    data: bytes, filename: str, *, settings: IngestSettings, on_pages: PageProgress | None = None
) -> ParsedDocument:
    """Returns the parsed document, parsed in a sandboxed child process (see ParserSandbox.parse)."""
    return sandbox_for(settings).parse(data, filename, on_pages=on_pages)
