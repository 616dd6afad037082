"""Cutting a parsed document into chunks, and chunks into passages (semchunk, by embedder tokens).

A chunk (``chunk_tokens``) is what BM25 ranks, what a search returns and what an answer cites; its
passages (``passage_tokens``) are what gets embedded ("small-to-big": short passages match a
question's meaning far better than a whole chunk does, docs/retrieval.md). semchunk cuts at the
largest boundary that fits (paragraph, then line, sentence, clause, word), so chunks keep whole
paragraphs where they can.

Pages of one chapter are chunked as one text, so a chunk may run over a page break; it is cited by
the page holding most of its text. Chunks never cross a chapter boundary: a citation names one chapter.
Nor do they cross between OCR'd and extracted text (a scanned page next to a text page): a chunk's
``ocr`` flag then holds for all of its text, so whoever reads a citation knows whether its words were
recognised from an image (and may hold recognition errors) or are the document's own.
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
    passages: tuple[str, ...]
    # The text was recognised by OCR from scanned pages.
    ocr: bool = False


def content_hash(text: str) -> str:
    """Returns the identity of a chunk's text (what decides whether it must be embedded again)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def chunk_sections(
    sections: list[Section],
    *,
    chunk_tokens: int,
    overlap_ratio: float,
    count_tokens: Callable[[str], int],
    passage_tokens: int | None = None,
) -> list[Chunk]:
    """Returns the document's chunks in reading order, numbered from 0, each with its passages."""
    chunker = semchunk.chunkerify(count_tokens, chunk_size=chunk_tokens)
    passager = semchunk.chunkerify(count_tokens, chunk_size=passage_tokens) if passage_tokens else None
    chunks: list[Chunk] = []
    for (chapter, ocr), group in groupby(sections, key=lambda s: (s.chapter, s.ocr)):
        parts = list(group)
        text, starts = _join(parts)
        if not text.strip():
            continue
        pieces, offsets = cast(
            tuple[list[str], list[tuple[int, int]]], chunker(text, overlap=overlap_ratio or None, offsets=True)
        )
        for piece, (start, end) in zip(pieces, offsets, strict=True):
            text = piece.strip()
            if not text:
                continue
            passages = [p.strip() for p in cast(list[str], passager(text))] if passager else [text]
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=text,
                    page=_page_of(parts, starts, start, end),
                    chapter=chapter,
                    content_hash=content_hash(text),
                    passages=tuple(p for p in passages if p) or (text,),
                    ocr=ocr,
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


def _page_of(parts: list[Section], starts: list[int], start: int, end: int) -> int | None:
    """Returns the page that holds the largest share of the text between ``start`` and ``end``."""
    best, best_overlap = parts[0].page, -1
    for part, part_start in zip(parts, starts, strict=True):
        overlap = min(end, part_start + len(part.text)) - max(start, part_start)
        if overlap > best_overlap:
            best, best_overlap = part.page, overlap
    return best
