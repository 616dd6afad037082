"""Cutting a parsed document into chunks of N embedder tokens with overlap (semchunk).

Pages of one chapter are chunked as one text, so a chunk may run over a page break; it keeps the
page it starts on. Chunks never cross a chapter boundary: a citation names one chapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import cast

import semchunk

from tomehub.ingest.parsers.base import Section


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    page: int | None
    chapter: str | None
    content_hash: str


def content_hash(text: str) -> str:
    """Returns the identity of a chunk's text (what decides whether it must be embedded again)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def chunk_sections(
    sections: list[Section],
    *,
    chunk_tokens: int,
    overlap_ratio: float,
    count_tokens: Callable[[str], int],
) -> list[Chunk]:
    """Returns the document's chunks in reading order, numbered from 0."""
    chunker = semchunk.chunkerify(count_tokens, chunk_size=chunk_tokens)
    chunks: list[Chunk] = []
    for chapter, group in groupby(sections, key=lambda s: s.chapter):
        parts = list(group)
        text, starts = _join(parts)
        if not text.strip():
            continue
        pieces, offsets = cast(
            tuple[list[str], list[tuple[int, int]]], chunker(text, overlap=overlap_ratio or None, offsets=True)
        )
        for piece, (start, _end) in zip(pieces, offsets, strict=True):
            if not piece.strip():
                continue
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=piece.strip(),
                    page=_page_at(parts, starts, start),
                    chapter=chapter,
                    content_hash=content_hash(piece),
                )
            )
    return chunks


def _join(parts: list[Section]) -> tuple[str, list[int]]:
    starts, texts, pos = [], [], 0
    for part in parts:
        starts.append(pos)
        texts.append(part.text)
        pos += len(part.text) + 2
    return "\n\n".join(texts), starts


def _page_at(parts: list[Section], starts: list[int], offset: int) -> int | None:
    page = parts[0].page
    for part, start in zip(parts, starts, strict=True):
        if start > offset:
            break
        page = part.page
    return page
