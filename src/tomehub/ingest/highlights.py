"""Highlight imports: a Kindle ``My Clippings.txt`` or a Readwise CSV becomes one item per highlight.

Each highlight is a HIGHLIGHT item (a Kindle note no highlight holds is a PERSONAL_NOTE) titled
after its book, linked to the user's item of that book when the library holds it (same title
ignoring case and spacing, and the same author when both name one), with its page or location in
the summary and on its chunk. A note attached to a highlight is indexed as part of its text.
Re-importing adds nothing: a highlight's key (book, place, text hash) is unique per user.
Highlights are written in batches, one transaction each, and embedded afterwards in batches the
way typed highlights are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from tomehub.config import Settings
from tomehub.ingest import highlights_repo, repo
from tomehub.ingest.chunking import Chunk, chunk_sections, content_hash
from tomehub.ingest.parsers.base import Section
from tomehub.ingest.parsers.highlights import Highlight, fold, fold_author
from tomehub.ingest.service import new_chunk
from tomehub.library import repo as library_repo
from tomehub.library.analysis import detect_config
from tomehub.library.schemas import ItemType, clean_tags
from tomehub.llm.base import Embedder
from tomehub.store.db import Connection, Database


@dataclass
class ImportResult:
    """What an import did: highlights added, skipped as already present, chunks written."""

    added: int = 0
    skipped: int = 0
    chunks_written: int = 0
    # The export's own item was deleted meanwhile: the import stopped (what it wrote stays).
    cancelled: bool = False


@dataclass(frozen=True)
class _Prepared:
    highlight: Highlight
    chunks: list[Chunk]
    language: str


async def import_highlights(
    *,
    db: Database,
    embedder: Embedder,
    settings: Settings,
    user_id: int,
    run_id: UUID,
    export_item_id: UUID,
    filename: str,
    highlights: list[Highlight],
    tags: list[str],
) -> ImportResult:
    """Returns what importing ``highlights`` added and skipped; writes them in batches."""
    result = ImportResult()
    books: dict[tuple[str, str], UUID | None] = {}
    size = settings.ingest.highlight_import_batch_items
    for start in range(0, len(highlights), size):
        batch = highlights[start : start + size]
        prepared = await asyncio.to_thread(_prepare, batch, settings, embedder.count_tokens)
        hashes = [content_hash(p) for item in prepared for c in item.chunks for p in c.passages]
        async with db.write() as conn, conn.transaction():
            await library_repo.lock_library(conn, user_id=user_id)
            # Deletes win: once the export's item is gone, no further highlight of it is written.
            if not await library_repo.lock_live_item(conn, user_id=user_id, item_id=export_item_id):
                result.cancelled = True
                return result
            await _find_books(conn, user_id=user_id, batch=batch, books=books)
            reusable = await library_repo.reusable_embeddings(
                conn, user_id=user_id, hashes=hashes, model=embedder.model, version=embedder.version
            )
            added = skipped = written = 0
            for item in prepared:
                new_id = await _insert(conn, user_id=user_id, item=item, filename=filename, tags=tags, books=books)
                if new_id is None:
                    skipped += 1
                    continue
                content_type = _item_type(item.highlight).value
                write = await library_repo.write_chunks(
                    conn,
                    user_id=user_id,
                    item_id=new_id,
                    chunks=[new_chunk(c, content_type, item.language, reusable) for c in item.chunks],
                    embedding_model=embedder.model,
                    embedding_version=embedder.version,
                )
                added += 1
                written += write.inserted
            await highlights_repo.add_highlight_counts(conn, run_id=run_id, added=added, skipped=skipped)
            await repo.add_run_counts(conn, run_id=run_id, written=written)
        result.added += added
        result.skipped += skipped
        result.chunks_written += written
    return result


def summary_of(result: ImportResult, *, source: str, books: int) -> str:
    """Returns the line shown on the export's own item."""
    return (
        f"{source}: {result.added} highlight(s) and note(s) of {books} book(s) added, "
        f"{result.skipped} already in the library."
    )


def _prepare(batch: list[Highlight], settings: Settings, count_tokens: Callable[[str], int]) -> list[_Prepared]:
    prepared = []
    for highlight in batch:
        # Highlights are short; one longer than a typed item may be is cut rather than refused.
        text = highlight.full_text.replace("\x00", "")[: settings.ingest.max_item_text_chars]
        chunks = chunk_sections(
            [Section(text=text, page=highlight.page)],
            chunk_tokens=settings.chunking.chunk_tokens,
            passage_tokens=settings.chunking.passage_tokens,
            overlap_ratio=settings.chunking.overlap_ratio,
            count_tokens=count_tokens,
        )
        if chunks:
            prepared.append(_Prepared(highlight=highlight, chunks=chunks, language=detect_config(text[:4000])))
    return prepared


def _book_key(highlight: Highlight) -> tuple[str, str]:
    return fold(highlight.book_title), fold_author(highlight.book_author)


async def _find_books(
    conn: Connection, *, user_id: int, batch: list[Highlight], books: dict[tuple[str, str], UUID | None]
) -> None:
    """Fills ``books`` (folded title and author -> the user's item of that book, or None)."""
    wanted = {_book_key(h): " ".join(h.book_title.split()) for h in batch if _book_key(h) not in books}
    if not wanted:
        return
    rows = await highlights_repo.find_books(conn, user_id=user_id, titles=sorted(set(wanted.values())))
    for key in wanted:
        title, author = key
        match = None
        for row in rows:
            if fold(row["title"]) != title:
                continue
            row_author = fold_author(row["author"])
            # The same author when both name one; a book or a highlight without one matches by title.
            if not author or not row_author or row_author == author:
                match = UUID(str(row["id"]))
                break
        books[key] = match


async def _insert(
    conn: Connection,
    *,
    user_id: int,
    item: _Prepared,
    filename: str,
    tags: list[str],
    books: dict[tuple[str, str], UUID | None],
) -> UUID | None:
    highlight = item.highlight
    return await highlights_repo.insert_highlight(
        conn,
        user_id=user_id,
        item_type=_item_type(highlight).value,
        title=highlight.book_title[:500],
        author=highlight.book_author[:300] if highlight.book_author else None,
        tags=_tags(tags, highlight.tags),
        summary=_place(highlight),
        language=item.language,
        source_filename=filename[:500],
        source_item_id=books.get(_book_key(highlight)),
        highlight_key=highlight.key,
    )


def _item_type(highlight: Highlight) -> ItemType:
    return ItemType.PERSONAL_NOTE if highlight.is_note else ItemType.HIGHLIGHT


def _place(highlight: Highlight) -> str:
    kind = "Note" if highlight.is_note else "Highlight"
    where = [f"page {highlight.page}"] if highlight.page is not None else []
    if highlight.location:
        location = highlight.location
        where.append(location if not location[:1].isdigit() else f"location {location}")
    return f"{kind} from {highlight.book_title[:300]}" + (f" ({', '.join(where)})" if where else "")


def _tags(upload_tags: list[str], own: tuple[str, ...]) -> list[str]:
    try:
        return clean_tags([*upload_tags, *own]) or []
    except ValueError:
        # An export's tag TomeHub cannot keep (too long, odd characters) is dropped, not the highlight.
        return list(upload_tags)
