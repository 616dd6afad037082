"""Chunking by tokens with overlap; chunks keep their page and chapter."""

from __future__ import annotations

import itertools

from tomehub.ingest.chunking import chunk_sections, content_hash
from tomehub.ingest.parsers.base import Section


def words(text: str) -> int:
    return len(text.split())


def test_chunks_respect_the_token_budget_and_overlap() -> None:
    text = " ".join(f"Sentence number {n} says something." for n in range(200))
    chunks = chunk_sections([Section(text)], chunk_tokens=50, overlap_ratio=0.2, count_tokens=words)
    assert len(chunks) > 10
    assert all(words(c.text) <= 50 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    # Consecutive chunks share text (overlap), so a sentence on a boundary is whole somewhere.
    shared = sum(1 for a, b in itertools.pairwise(chunks) if set(a.text.split()) & set(b.text.split()))
    assert shared == len(chunks) - 1


def test_chunks_never_cross_chapters_and_name_the_majority_page() -> None:
    sections = [
        Section("Chapter one, page one. " * 30, page=1, chapter="One"),
        Section("Chapter one, page two. " * 5, page=2, chapter="One"),
        Section("Chapter two begins here. " * 30, page=3, chapter="Two"),
    ]
    chunks = chunk_sections(sections, chunk_tokens=40, overlap_ratio=0.0, count_tokens=words)
    for chunk in chunks:
        assert ("two begins" in chunk.text) == (chunk.chapter == "Two")
    assert {c.page for c in chunks if c.chapter == "Two"} == {3}
    assert {c.page for c in chunks if c.chapter == "One"} <= {1, 2}


def test_content_hash_ignores_whitespace_only() -> None:
    assert content_hash("a  b\nc") == content_hash("a b c")
    assert content_hash("a b c") != content_hash("a b d")
