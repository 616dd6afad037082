"""Parsers in a sandbox: a parser that crashes, hangs or runs out of memory fails its own file with a
clear message, and the next file parses in a fresh child."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import hostile_parsers
from tests.support.hostile_parsers import make_bomb_epub
from tomehub.errors import CorruptDocument, ParserCrashed, ParserOutOfMemory, ParserTimedOut
from tomehub.ingest.sandbox import ParserSandbox, SandboxLimits

LIMITS = SandboxLimits(memory_limit_mb=512, timeout_s=2.0, workers=1, plugins=(hostile_parsers.PLUGIN,))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParserSandbox]:
    box = ParserSandbox(LIMITS)
    yield box
    box.close()


def parses_a_good_file(sandbox: ParserSandbox) -> bool:
    doc = sandbox.parse(b"# Tides\n\nThe moon pulls the sea twice a day.", "tides.md")
    return "moon pulls" in doc.sections[0].text


def test_a_warm_child_parses_and_returns_the_document(sandbox: ParserSandbox) -> None:
    assert parses_a_good_file(sandbox)
    assert parses_a_good_file(sandbox)


def test_a_parser_error_is_the_files_own_error(sandbox: ParserSandbox) -> None:
    with pytest.raises(CorruptDocument, match="not a readable PDF"):
        sandbox.parse(b"%PDF-1.4 broken", "broken.pdf")
    assert parses_a_good_file(sandbox)


def test_a_segfault_fails_that_file_and_the_pool_recovers(sandbox: ParserSandbox) -> None:
    with pytest.raises(ParserCrashed, match=r"crash\.segv could not be parsed: it crashed the parser \(signal 11\)"):
        sandbox.parse(b"boom", "crash.segv")
    assert parses_a_good_file(sandbox)


def test_no_crash_loses_its_signal(sandbox: ParserSandbox) -> None:
    # The broken pool's manager thread and _retire both join the dead child; joined at once, one of
    # them read EOF for the exit status and recorded 255 over the signal (about 1 crash in 40 here).
    messages = []
    for n in range(40):
        with pytest.raises(ParserCrashed) as crashed:
            sandbox.parse(b"boom", f"crash-{n}.segv")
        messages.append(str(crashed.value))
    assert [m for m in messages if "(signal 11)" not in m] == []


def test_a_hang_is_killed_at_the_time_limit(sandbox: ParserSandbox) -> None:
    with pytest.raises(ParserTimedOut, match=r"stuck\.hang could not be parsed: it timed out after 2 s"):
        sandbox.parse(b"zzz", "stuck.hang")
    assert parses_a_good_file(sandbox)


def test_a_runaway_allocation_stops_at_the_memory_limit(sandbox: ParserSandbox) -> None:
    with pytest.raises(ParserOutOfMemory, match=r"greedy\.hog could not be parsed: it ran out of memory at 512 MB"):
        sandbox.parse(b"more", "greedy.hog")
    assert parses_a_good_file(sandbox)


def test_a_decompression_bomb_epub_runs_out_of_memory_not_the_worker(sandbox: ParserSandbox) -> None:
    bomb = make_bomb_epub()
    assert len(bomb) < 5 * 1024 * 1024
    with pytest.raises(ParserOutOfMemory, match=r"bomb\.epub could not be parsed: it ran out of memory at 512 MB"):
        sandbox.parse(bomb, "bomb.epub")
    assert parses_a_good_file(sandbox)


def test_files_after_failures_of_every_kind_still_parse(sandbox: ParserSandbox) -> None:
    for name in ("a.segv", "b.hog", "c.segv"):
        with pytest.raises((ParserCrashed, ParserOutOfMemory)):
            sandbox.parse(b"x", name)
        assert parses_a_good_file(sandbox)
