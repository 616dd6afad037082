"""Loading: documents go through the product's write path, one transaction per document, exactly as
``tomehub.ingest.pipeline.process_file`` indexes a parsed file; the physical floor writes the same rows
into a plain table without indexes."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from uuid import UUID

from psycopg import sql

from searchbench.corpus import Document, generate_documents
from tomehub.library import repo as library_repo
from tomehub.store.db import Database
from tomehub.store.users import UserDirectory

FLOOR_CHUNKS = "bench_floor_chunks"
FLOOR_PASSAGES = "bench_floor_passages"
_FLOOR_CHUNK_COLUMNS = (
    "user_id",
    "item_id",
    "content_type",
    "chunk_index",
    "text",
    "page",
    "chapter",
    "ts_config",
    "content_hash",
    "passage_count",
)
_FLOOR_PASSAGE_COLUMNS = (
    "item_id",
    "chunk_index",
    "user_id",
    "passage_index",
    "text",
    "content_hash",
    "embedding",
    "embedding_model",
    "embedding_version",
)


@dataclass(frozen=True)
class EmbeddingSpace:
    model: str
    version: str
    dim: int


@dataclass(frozen=True)
class Timed:
    """Rows written in a number of seconds."""

    chunks: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else float("nan")


async def user_id(db: Database, uid: str) -> int:
    """Returns the user's id, creating the user and its library row as the API does on first sight."""
    return await UserDirectory(db).user_id(uid)


async def insert_pending_item(db: Database, user: int, doc: Document) -> UUID:
    """Records the item as an upload does (its own transaction, status pending)."""
    async with db.write() as conn:
        return await library_repo.insert_item(
            conn,
            user_id=user,
            item_type=doc.item_type,
            title=doc.title,
            tags=list(doc.tags),
            source_filename=f"bench-{doc.user}-{doc.number}.txt",
            file_sha256=doc.file_sha256,
            status="pending",
        )


async def index_document(db: Database, user: int, item_id: UUID, doc: Document, space: EmbeddingSpace) -> int:
    """The indexing of ``process_file`` (its ``_write_chunks``): the reuse lookup, then one transaction
    that adds the new item's chunks and passages, takes the library's lock, checks the item, indexes
    the chunks and updates the item."""
    hashes = [p.content_hash for c in doc.chunks for p in c.passages]
    async with db.read() as conn:
        await library_repo.reusable_embeddings(
            conn, user_id=user, hashes=hashes, model=space.model, version=space.version
        )
    async with db.write() as conn, conn.transaction():
        assert not await library_repo.existing_chunks(conn, item_id=item_id)
        added = await library_repo.add_chunks(
            conn,
            user_id=user,
            item_id=item_id,
            chunks=list(doc.chunks),
            embedding_model=space.model,
            embedding_version=space.version,
        )
        await library_repo.lock_library(conn, user_id=user)
        assert await library_repo.lock_live_item(conn, user_id=user, item_id=item_id)
        write = await library_repo.index_new_item_chunks(conn, user_id=user, chunk_ids=added)
        await library_repo.get_item(conn, user_id=user, item_id=item_id)
        await library_repo.update_item(
            conn, user_id=user, item_id=item_id, fields={"language": doc.ts_config, "status": "ready"}
        )
    return write.inserted


async def prefill(
    db: Database,
    pool: ProcessPoolExecutor,
    *,
    user: int,
    uid: str,
    numbers: range,
    chunks_per_doc: int,
    space: EmbeddingSpace,
    progress: Callable[[int], None],
) -> Timed:
    """Writes documents ``numbers`` while a generator process prepares the next ones (bounded prefetch)."""
    loop = asyncio.get_running_loop()
    batches = [list(numbers[i : i + 4]) for i in range(0, len(numbers), 4)]
    pending: deque[Awaitable[list[Document]]] = deque()
    upcoming = iter(batches)

    def submit() -> None:
        batch = next(upcoming, None)
        if batch is not None:
            pending.append(loop.run_in_executor(pool, generate_documents, uid, batch, chunks_per_doc))

    for _ in range(6):
        submit()
    written = 0
    started = time.perf_counter()
    while pending:
        docs = await pending.popleft()
        submit()
        for doc in docs:
            item_id = await insert_pending_item(db, user, doc)
            written += await index_document(db, user, item_id, doc, space)
        progress(written)
    return Timed(written, time.perf_counter() - started)


async def timed_write_path(
    db: Database, user: int, docs: list[Document], space: EmbeddingSpace, *, writers: int = 1
) -> Timed:
    """Times the indexing transactions of ``docs`` (items recorded beforehand, nothing else running),
    ``writers`` documents at a time on their own connections, as a worker running that many jobs at
    once writes them (one user's: they wait for each other only at the library's lock, taken after
    the chunks and passages are in)."""
    items = [await insert_pending_item(db, user, doc) for doc in docs]
    todo = deque(zip(items, docs, strict=True))
    written = 0

    async def writer() -> None:
        nonlocal written
        while todo:
            item_id, doc = todo.popleft()
            chunks = await index_document(db, user, item_id, doc, space)
            written += chunks  # not "+= await": the other writers add to it meanwhile

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return Timed(written, time.perf_counter() - started)


def _chunk_rows(user: int, item_id: UUID, doc: Document) -> Iterator[tuple[object, ...]]:
    for c in doc.chunks:
        yield (user, item_id, c.content_type, c.chunk_index, c.text, c.page, c.chapter, c.ts_config, c.content_hash,
               len(c.passages))  # fmt: skip


def _passage_rows(user: int, item_id: UUID, doc: Document, space: EmbeddingSpace) -> Iterator[tuple[object, ...]]:
    for c in doc.chunks:
        for n, p in enumerate(c.passages):
            yield (item_id, c.chunk_index, user, n, p.text, p.content_hash, p.embedding, space.model, space.version)


async def create_floor_tables(db: Database) -> None:
    """Plain tables for the floor: the same columns as the product's, no index, no constraint."""
    await drop_floor_tables(db)
    async with db.write() as conn:
        await conn.execute(
            f"""CREATE TABLE {FLOOR_CHUNKS} (
                user_id integer, item_id uuid, content_type text, chunk_index integer, text text,
                page integer, chapter text, ts_config regconfig, content_hash text, passage_count smallint)"""
        )
        await conn.execute(
            f"""CREATE TABLE {FLOOR_PASSAGES} (
                item_id uuid, chunk_index integer, user_id integer, passage_index smallint, text text,
                content_hash text, embedding vector, embedding_model text, embedding_version text)"""
        )


async def drop_floor_tables(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {FLOOR_CHUNKS}, {FLOOR_PASSAGES}")


def _copy(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


async def floor_copy(db: Database, user: int, docs: list[Document], space: EmbeddingSpace) -> Timed:
    """COPY of the same chunk and passage rows, one transaction per document, into plain tables."""
    await _truncate_floor(db)
    started = time.perf_counter()
    async with db.write() as conn:
        for number, doc in enumerate(docs):
            item_id = UUID(int=number)
            async with conn.transaction(), conn.cursor() as cur:
                async with cur.copy(_copy(FLOOR_CHUNKS, _FLOOR_CHUNK_COLUMNS)) as copy:
                    for row in _chunk_rows(user, item_id, doc):
                        await copy.write_row(row)
                async with cur.copy(_copy(FLOOR_PASSAGES, _FLOOR_PASSAGE_COLUMNS)) as copy:
                    for row in _passage_rows(user, item_id, doc, space):
                        await copy.write_row(row)
    return Timed(sum(len(d.chunks) for d in docs), time.perf_counter() - started)


async def floor_insert_unnest(db: Database, user: int, docs: list[Document], space: EmbeddingSpace) -> Timed:
    """INSERT ... SELECT FROM unnest(arrays) of the same rows (the write path's parameter shape), one
    statement per document."""
    await _truncate_floor(db)
    started = time.perf_counter()
    async with db.write() as conn:
        for number, doc in enumerate(docs):
            chunks = list(_chunk_rows(user, UUID(int=number), doc))
            passages = list(_passage_rows(user, UUID(int=number), doc, space))
            await conn.execute(
                f"""
                WITH c AS (
                    INSERT INTO {FLOOR_CHUNKS} ({", ".join(_FLOOR_CHUNK_COLUMNS)})
                    SELECT %(user)s, %(item)s, s.ctype, s.idx, s.text, s.page, s.chapter, s.cfg::regconfig,
                           s.hash, s.npass
                    FROM unnest(%(idx)s::int[], %(text)s::text[], %(ctype)s::text[], %(cfg)s::text[],
                                %(hash)s::text[], %(page)s::int[], %(chapter)s::text[], %(npass)s::int[])
                         AS s(idx, text, ctype, cfg, hash, page, chapter, npass)
                )
                INSERT INTO {FLOOR_PASSAGES} ({", ".join(_FLOOR_PASSAGE_COLUMNS)})
                SELECT %(item)s, p.idx, %(user)s, p.n, p.text, p.hash, p.emb::vector, %(model)s, %(version)s
                FROM unnest(%(p_idx)s::int[], %(p_n)s::int[], %(p_text)s::text[], %(p_hash)s::text[],
                            %(p_emb)s::text[]) AS p(idx, n, text, hash, emb)
                """,
                {
                    "user": user,
                    "item": UUID(int=number),
                    "idx": [r[3] for r in chunks],
                    "text": [r[4] for r in chunks],
                    "ctype": [r[2] for r in chunks],
                    "cfg": [r[7] for r in chunks],
                    "hash": [r[8] for r in chunks],
                    "page": [r[5] for r in chunks],
                    "chapter": [r[6] for r in chunks],
                    "npass": [r[9] for r in chunks],
                    "p_idx": [r[1] for r in passages],
                    "p_n": [r[3] for r in passages],
                    "p_text": [r[4] for r in passages],
                    "p_hash": [r[5] for r in passages],
                    "p_emb": [r[6] for r in passages],
                    "model": space.model,
                    "version": space.version,
                },
            )
    return Timed(sum(len(d.chunks) for d in docs), time.perf_counter() - started)


async def _truncate_floor(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(f"TRUNCATE {FLOOR_CHUNKS}, {FLOOR_PASSAGES}")


async def vacuum_analyze(db: Database) -> float:
    started = time.perf_counter()
    async with db.write() as conn:
        await conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started
