"""SQL for library items and their chunks, including the BM25 postings kept beside every chunk.

Every function takes an open connection; the caller chooses the pool and the transaction. Every
query is scoped by ``user_id``: another user's rows are indistinguishable from missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np

from tomehub.library.analysis import normalize
from tomehub.library.postings import BLOCK_POSTINGS, PackedBlock
from tomehub.store.db import Connection

_ITEM_COLUMNS = """
    i.id, i.item_type, i.title, i.author, i.isbn, i.tags, i.summary, i.source_filename,
    i.language, i.status, i.status_detail, i.created_at, i.updated_at, i.source_item_id,
    i.chunk_count
"""


@dataclass(frozen=True)
class NewPassage:
    """A passage of a chunk; ``embedding`` (a pgvector literal) is None until the embedder has seen it."""

    text: str
    content_hash: str
    embedding: str | None = None


@dataclass(frozen=True)
class NewChunk:
    """A chunk to be written, with the passages it is embedded as."""

    chunk_index: int
    text: str
    content_type: str
    ts_config: str
    content_hash: str
    passages: tuple[NewPassage, ...]
    page: int | None = None
    chapter: str | None = None
    # Recognised by OCR from a scanned page (ingest/parsers/ocr.py).
    ocr: bool = False


@dataclass(frozen=True)
class ChunkWrite:
    """What a chunk write changed."""

    inserted: int
    deleted: int
    kept: int


async def insert_item(
    conn: Connection,
    *,
    user_id: int,
    item_type: str,
    title: str,
    author: str | None = None,
    isbn: str | None = None,
    tags: list[str] | None = None,
    summary: str | None = None,
    source_filename: str | None = None,
    source_mime: str | None = None,
    file_sha256: str | None = None,
    status: str = "ready",
) -> UUID:
    row = await (
        await conn.execute(
            """
            INSERT INTO library_items (user_id, item_type, title, author, isbn, tags, summary,
                                       source_filename, source_mime, file_sha256, status)
            VALUES (%(user_id)s, %(item_type)s, %(title)s, %(author)s, %(isbn)s, %(tags)s, %(summary)s,
                    %(source_filename)s, %(source_mime)s, %(file_sha256)s, %(status)s)
            RETURNING id
            """,
            {
                "user_id": user_id,
                "item_type": item_type,
                "title": title,
                "author": author,
                "isbn": isbn,
                "tags": tags or [],
                "summary": summary,
                "source_filename": source_filename,
                "source_mime": source_mime,
                "file_sha256": file_sha256,
                "status": status,
            },
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def insert_file_items(
    conn: Connection,
    *,
    user_id: int,
    item_type: str,
    author: str | None,
    tags: list[str],
    files: list[tuple[str, str, str, str]],
) -> dict[str, UUID]:
    """Inserts pending items for uploaded files (sha256, title, source filename, media type), one per
    distinct file; returns sha256 -> item id."""
    if not files:
        return {}
    cur = await conn.execute(
        """
        INSERT INTO library_items (user_id, item_type, title, author, tags, source_filename, source_mime,
                                   file_sha256, status)
        SELECT %(user_id)s, %(item_type)s, f.title, %(author)s, %(tags)s, f.source_filename, f.source_mime,
               f.sha256, 'pending'
        FROM unnest(%(sha)s::text[], %(title)s::text[], %(name)s::text[], %(mime)s::text[])
             AS f(sha256, title, source_filename, source_mime)
        RETURNING id, file_sha256
        """,
        {
            "user_id": user_id,
            "item_type": item_type,
            "author": author,
            "tags": tags,
            "sha": [f[0] for f in files],
            "title": [f[1] for f in files],
            "name": [f[2] for f in files],
            "mime": [f[3] for f in files],
        },
    )
    return {str(r["file_sha256"]): UUID(str(r["id"])) for r in await cur.fetchall()}


async def find_items_by_files(conn: Connection, *, user_id: int, file_sha256s: list[str]) -> dict[str, UUID]:
    """Returns sha256 -> the user's live item of that file, for those of the files it has."""
    cur = await conn.execute(
        """SELECT id, file_sha256 FROM library_items
           WHERE user_id = %s AND file_sha256 = ANY(%s) AND deleted_at IS NULL""",
        (user_id, file_sha256s),
    )
    return {str(r["file_sha256"]): UUID(str(r["id"])) for r in await cur.fetchall()}


async def find_item_by_file(conn: Connection, *, user_id: int, file_sha256: str) -> UUID | None:
    row = await (
        await conn.execute(
            """SELECT id FROM library_items
               WHERE user_id = %s AND file_sha256 = %s AND deleted_at IS NULL""",
            (user_id, file_sha256),
        )
    ).fetchone()
    return None if row is None else UUID(str(row["id"]))


async def get_item(conn: Connection, *, user_id: int, item_id: UUID) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_ITEM_COLUMNS} FROM library_items i WHERE i.id = %s AND i.user_id = %s AND i.deleted_at IS NULL",
        (item_id, user_id),
    )
    return await cur.fetchone()


@dataclass(frozen=True)
class ItemOrder:
    """A listing order: sort keys (SQL expression, SQL type) ending before the id tie-breaker."""

    keys: tuple[tuple[str, str], ...]
    descending: bool


# Every key is a plain column or an expression of one row, so a page after a cursor is a row
# comparison on the same keys the ORDER BY uses (keyset paging, no OFFSET).
ITEM_ORDERS: dict[str, ItemOrder] = {
    "newest": ItemOrder(keys=(("i.created_at", "timestamptz"),), descending=True),
    "oldest": ItemOrder(keys=(("i.created_at", "timestamptz"),), descending=False),
    "title": ItemOrder(keys=(("lower(i.title)", "text"),), descending=False),
    # Items without an author come last; ties are broken by title.
    "author": ItemOrder(
        keys=(("(i.author IS NULL)", "boolean"), ("lower(coalesce(i.author, ''))", "text"), ("lower(i.title)", "text")),
        descending=False,
    ),
}


def like_pattern(text: str) -> str:
    """Returns a LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_items(
    conn: Connection,
    *,
    user_id: int,
    limit: int,
    order: str = "newest",
    after: tuple[list[Any], UUID] | None = None,
    item_type: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """Returns one page of the user's live items in ``order``, after the keys ``after`` (one query).
    Each row carries its sort keys as ``sort_key_0``, ``sort_key_1``... for the next cursor."""
    spec = ITEM_ORDERS[order]
    # Only the filters in use reach the SQL, so the planner sees a plain predicate for each.
    where = ["i.user_id = %(user_id)s", "i.deleted_at IS NULL"]
    params: dict[str, Any] = {"user_id": user_id, "limit": limit}
    if item_type is not None:
        where.append("i.item_type = %(item_type)s")
        params["item_type"] = item_type
    if tag is not None:
        where.append("i.tags @> ARRAY[%(tag)s::text]")
        params["tag"] = tag
    if status is not None:
        where.append("i.status = %(status)s")
        params["status"] = status
    if query is not None:
        where.append("(i.title ILIKE %(pattern)s ESCAPE '\\' OR i.author ILIKE %(pattern)s ESCAPE '\\')")
        params["pattern"] = like_pattern(query)
    exprs = [expr for expr, _ in spec.keys]
    if after is not None:
        values, after_id = after
        placeholders = []
        for n, ((_, sql_type), value) in enumerate(zip(spec.keys, values, strict=True)):
            params[f"after_{n}"] = value
            placeholders.append(f"%(after_{n})s::{sql_type}")
        params["after_id"] = after_id
        op = "<" if spec.descending else ">"
        where.append(f"({', '.join(exprs)}, i.id) {op} ({', '.join(placeholders)}, %(after_id)s::uuid)")
    direction = "DESC" if spec.descending else "ASC"
    order_by = ", ".join(f"{expr} {direction}" for expr in [*exprs, "i.id"])
    sort_columns = "".join(f", {expr} AS sort_key_{n}" for n, expr in enumerate(exprs))
    cur = await conn.execute(
        f"""
        SELECT {_ITEM_COLUMNS}{sort_columns} FROM library_items i
        WHERE {" AND ".join(where)}
        ORDER BY {order_by}
        LIMIT %(limit)s
        """,
        params,
    )
    return await cur.fetchall()


async def update_item(conn: Connection, *, user_id: int, item_id: UUID, fields: dict[str, Any]) -> bool:
    """Updates the given columns; returns False when the item is missing or not the user's."""
    allowed = {"item_type", "title", "author", "isbn", "tags", "summary", "status", "status_detail", "language"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if not fields:
        row = await get_item(conn, user_id=user_id, item_id=item_id)
        return row is not None
    sets = ", ".join(f"{name} = %({name})s" for name in fields)
    cur = await conn.execute(
        f"""UPDATE library_items SET {sets}, updated_at = now()
            WHERE id = %(item_id)s AND user_id = %(user_id)s AND deleted_at IS NULL""",
        {**fields, "item_id": item_id, "user_id": user_id},
    )
    return cur.rowcount == 1


async def mark_items_indexed(conn: Connection, *, user_id: int, items: list[tuple[UUID, str, str, str, str]]) -> None:
    """Marks items ready once their text is indexed, in one statement: (item id, language, the title
    its filename gives, the document's own title, its author; "" when it has none). The document's
    title replaces one taken from the filename, its author fills an empty one."""
    await conn.execute(
        """
        UPDATE library_items i
           SET language = f.language, status = 'ready', status_detail = NULL, updated_at = now(),
               title = CASE WHEN i.title = f.filename_title AND f.title <> '' THEN f.title ELSE i.title END,
               author = CASE WHEN coalesce(i.author, '') = '' AND f.author <> '' THEN f.author ELSE i.author END
          FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[])
               AS f(id, language, filename_title, title, author)
         WHERE i.id = f.id AND i.user_id = %s AND i.deleted_at IS NULL
        """,
        ([i[0] for i in items], [i[1] for i in items], [i[2] for i in items], [i[3] for i in items],
         [i[4] for i in items], user_id),
    )  # fmt: skip


async def live_items(conn: Connection, *, user_id: int, item_ids: list[UUID]) -> set[UUID]:
    """Returns which of the items are still in the library, holding a share lock on each until the
    transaction ends (``lock_live_item`` for several)."""
    cur = await conn.execute(
        """SELECT id FROM library_items WHERE id = ANY(%s) AND user_id = %s AND deleted_at IS NULL
            ORDER BY id FOR SHARE""",
        (item_ids, user_id),
    )
    return {UUID(str(r["id"])) for r in await cur.fetchall()}


async def soft_delete_item(conn: Connection, *, user_id: int, item_id: UUID) -> bool:
    return bool(await soft_delete_items(conn, user_id=user_id, item_ids=[item_id]))


async def soft_delete_items(conn: Connection, *, user_id: int, item_ids: list[UUID]) -> list[UUID]:
    """Marks the user's live items among ``item_ids`` deleted; returns the ids it marked."""
    cur = await conn.execute(
        """UPDATE library_items SET deleted_at = now(), updated_at = now()
           WHERE id = ANY(%s) AND user_id = %s AND deleted_at IS NULL
           RETURNING id""",
        (item_ids, user_id),
    )
    return [UUID(str(r["id"])) for r in await cur.fetchall()]


async def lock_library(conn: Connection, *, user_id: int) -> None:
    """Locks the user's statistics row: chunk writes of one user are serialised (no lost updates)."""
    await conn.execute("SELECT 1 FROM library_stats WHERE user_id = %s FOR UPDATE", (user_id,))


async def lock_live_item(conn: Connection, *, user_id: int, item_id: UUID) -> bool:
    """Returns whether the item is still in the library (not deleted), and if so holds a share lock
    on it until the transaction ends, so it cannot be deleted before what is written for it commits."""
    row = await (
        await conn.execute(
            "SELECT 1 FROM library_items WHERE id = %s AND user_id = %s AND deleted_at IS NULL FOR SHARE",
            (item_id, user_id),
        )
    ).fetchone()
    return row is not None


async def bump_revision(conn: Connection, *, user_id: int) -> None:
    """Marks the library changed (cached results keyed by the old revision stop matching)."""
    await conn.execute("UPDATE library_stats SET revision = revision + 1 WHERE user_id = %s", (user_id,))


ChunkIdentity = tuple[str, str, int | None, str | None, bool]


def _identity(c: NewChunk) -> ChunkIdentity:
    return (c.content_hash, c.content_type, c.page, c.chapter, c.ocr)


async def existing_chunks(conn: Connection, *, item_id: UUID) -> dict[int, ChunkIdentity]:
    """Returns chunk_index -> (content hash, type, page, chapter, ocr) of the item's current chunks."""
    cur = await conn.execute(
        "SELECT chunk_index, content_hash, content_type, page, chapter, ocr FROM content_chunks WHERE item_id = %s",
        (item_id,),
    )
    return {
        int(r["chunk_index"]): (
            str(r["content_hash"]),
            str(r["content_type"]),
            r["page"],
            r["chapter"],
            bool(r["ocr"]),
        )
        for r in await cur.fetchall()
    }


async def items_with_chunks(conn: Connection, *, item_ids: list[UUID]) -> set[UUID]:
    """Returns which of the items have chunks already (a file uploaded again, not a new item)."""
    cur = await conn.execute("SELECT DISTINCT item_id FROM content_chunks WHERE item_id = ANY(%s)", (item_ids,))
    return {r["item_id"] for r in await cur.fetchall()}


async def reusable_embeddings(
    conn: Connection, *, user_id: int, hashes: list[str], model: str, version: str
) -> dict[str, str]:
    """Returns passage content_hash -> embedding (pgvector text) for texts already embedded by this model."""
    if not hashes:
        return {}
    cur = await conn.execute(
        """
        SELECT DISTINCT ON (content_hash) content_hash, embedding::text AS embedding
        FROM chunk_passages
        WHERE user_id = %s AND content_hash = ANY(%s)
          AND embedding_model = %s AND embedding_version = %s AND embedding IS NOT NULL
        """,
        (user_id, hashes, model, version),
    )
    return {str(r["content_hash"]): str(r["embedding"]) for r in await cur.fetchall()}


async def write_chunks(
    conn: Connection,
    *,
    user_id: int,
    item_id: UUID,
    chunks: list[NewChunk],
    embedding_model: str,
    embedding_version: str,
) -> ChunkWrite:
    """Makes the item's chunks equal ``chunks``: unchanged ones (same index, same hash) are kept with
    their embeddings, changed and surplus ones are replaced. Call inside a transaction that holds
    ``lock_library``."""
    current = await existing_chunks(conn, item_id=item_id)
    wanted = {c.chunk_index: c for c in chunks}
    stale = [idx for idx, ident in current.items() if idx not in wanted or _identity(wanted[idx]) != ident]
    fresh = [c for c in chunks if current.get(c.chunk_index) != _identity(c)]
    deleted = (
        await _delete_chunks(
            conn,
            user_id=user_id,
            where="item_id = %(item_id)s AND chunk_index = ANY(%(stale)s)",
            params={"item_id": item_id, "stale": stale},
        )
        if stale
        else 0
    )
    if fresh:
        added = await add_chunks(
            conn,
            user_id=user_id,
            item_id=item_id,
            chunks=fresh,
            embedding_model=embedding_model,
            embedding_version=embedding_version,
        )
        await index_chunks(conn, user_id=user_id, chunk_ids=added)
    if stale or fresh:
        await bump_revision(conn, user_id=user_id)
    return ChunkWrite(inserted=len(fresh), deleted=deleted, kept=len(chunks) - len(fresh))


async def index_new_item_chunks(conn: Connection, *, user_id: int, chunk_ids: list[int]) -> ChunkWrite:
    """Indexes a new item's chunks added by add_chunks (see write_chunks for an item that has some).
    Call inside a transaction that holds ``lock_library``."""
    await index_chunks(conn, user_id=user_id, chunk_ids=chunk_ids)
    if chunk_ids:
        await bump_revision(conn, user_id=user_id)
    return ChunkWrite(inserted=len(chunk_ids), deleted=0, kept=0)


async def delete_item_chunks(conn: Connection, *, user_id: int, item_id: UUID) -> int:
    """Deletes all chunks of an item (their postings go with them) and updates the statistics."""
    return await delete_items_chunks(conn, user_id=user_id, item_ids=[item_id])


async def delete_items_chunks(conn: Connection, *, user_id: int, item_ids: list[UUID]) -> int:
    """Deletes all chunks of many items in one statement and updates the statistics."""
    if not item_ids:
        return 0
    deleted = await _delete_chunks(
        conn, user_id=user_id, where="item_id = ANY(%(item_ids)s)", params={"item_ids": item_ids}
    )
    if deleted:
        await bump_revision(conn, user_id=user_id)
    return deleted


async def _delete_chunks(conn: Connection, *, user_id: int, where: str, params: dict[str, Any]) -> int:
    # Chunks, document frequencies and statistics change in one statement, then the postings blocks
    # in one more, all after the caller's lock_library: writers of one user touch lexeme_df and
    # lexeme_postings only while holding it.
    row = await (
        await conn.execute(
            f"""
            WITH gone AS (
                DELETE FROM content_chunks WHERE user_id = %(uid)s AND {where}
                RETURNING id, item_id, lexeme_count, passage_count, tsv
            ), uncounted AS (
                UPDATE library_items i SET chunk_count = i.chunk_count - g.n
                  FROM (SELECT item_id, count(*) AS n FROM gone GROUP BY item_id) g
                 WHERE i.id = g.item_id
            ), gone_df AS (
                -- The chunks' lexemes are the tsv's (their postings were written from it), each
                -- counted once per chunk; _drop_postings then takes the postings out of the blocks.
                SELECT l.lexeme, count(*) AS n FROM gone, unnest(gone.tsv) l GROUP BY l.lexeme
            ), df_dropped AS (
                -- Disjoint from df_kept (one statement may not modify a row twice).
                DELETE FROM lexeme_df d USING gone_df g
                 WHERE d.user_id = %(uid)s AND d.lexeme = g.lexeme AND d.df <= g.n
            ), df_kept AS (
                UPDATE lexeme_df d SET df = d.df - g.n FROM gone_df g
                 WHERE d.user_id = %(uid)s AND d.lexeme = g.lexeme AND d.df > g.n
            ), totals AS (
                SELECT count(*) AS n, coalesce(sum(lexeme_count), 0) AS lexemes,
                       coalesce(sum(passage_count), 0) AS passages,
                       array_agg(id) AS ids, (SELECT array_agg(lexeme) FROM gone_df) AS terms FROM gone
            )
            UPDATE library_stats s
               SET chunk_count = s.chunk_count - t.n, lexeme_total = s.lexeme_total - t.lexemes,
                   passage_count = s.passage_count - t.passages
              FROM totals t
             WHERE s.user_id = %(uid)s
            RETURNING t.n, t.ids, t.terms
            """,
            {"uid": user_id, **params},
        )
    ).fetchone()
    if row is None or not row["n"]:
        return 0
    await _drop_postings(conn, user_id=user_id, chunk_ids=list(row["ids"]), lexemes=list(row["terms"] or []))
    return int(row["n"])


async def _drop_postings(conn: Connection, *, user_id: int, chunk_ids: list[int], lexemes: list[str]) -> None:
    """Removes the chunks' postings from the packed blocks of their lexemes: a block left empty is
    deleted, any other block holding one of them is rewritten without them."""
    if not lexemes:
        return
    gone = np.asarray(chunk_ids, dtype=np.int64)
    cur = await conn.execute(
        """
        SELECT lexeme, block_no, chunk_ids, tfs, doc_lens FROM lexeme_postings
        WHERE user_id = %(uid)s AND lexeme = ANY(%(lexemes)s) AND min_id <= %(hi)s AND max_id >= %(lo)s
        """,
        {"uid": user_id, "lexemes": lexemes, "lo": int(gone.min()), "hi": int(gone.max())},
        binary=True,  # the blocks as raw bytes, not hex
    )
    changed: list[tuple[str, int, PackedBlock]] = []
    for r in await cur.fetchall():
        block = PackedBlock.from_row(r)
        kept = block.without(gone)
        if kept is not block:
            changed.append((r["lexeme"], r["block_no"], kept))
    if not changed:
        return
    # One statement, so a delete costs as many round trips for six items as for one.
    await conn.execute(
        """
        WITH k AS (
            SELECT * FROM unnest(%(lexemes)s::text[], %(blocks)s::int[], %(n)s::int[], %(lo)s::bigint[],
                                 %(hi)s::bigint[], %(ids)s::bytea[], %(tfs)s::bytea[], %(lens)s::bytea[])
                AS k(lexeme, block_no, n, lo, hi, chunk_ids, tfs, doc_lens)
        ), emptied AS (
            DELETE FROM lexeme_postings p USING k
             WHERE p.user_id = %(uid)s AND p.lexeme = k.lexeme AND p.block_no = k.block_no AND k.n = 0
        )
        UPDATE lexeme_postings p
           SET n = k.n, min_id = k.lo, max_id = k.hi, chunk_ids = k.chunk_ids, tfs = k.tfs, doc_lens = k.doc_lens
          FROM k
         WHERE p.user_id = %(uid)s AND p.lexeme = k.lexeme AND p.block_no = k.block_no AND k.n > 0
        """,
        {
            "uid": user_id,
            "lexemes": [lexeme for lexeme, _, _ in changed],
            "blocks": [no for _, no, _ in changed],
            "n": [b.n for _, _, b in changed],
            "lo": [b.min_id if b.n else 0 for _, _, b in changed],
            "hi": [b.max_id if b.n else 0 for _, _, b in changed],
            "ids": [b.chunk_ids.tobytes() for _, _, b in changed],
            "tfs": [b.tfs.tobytes() for _, _, b in changed],
            "lens": [b.doc_lens.tobytes() for _, _, b in changed],
        },
    )


async def add_chunks(
    conn: Connection,
    *,
    user_id: int,
    item_id: UUID,
    chunks: list[NewChunk],
    embedding_model: str,
    embedding_version: str,
) -> list[int]:
    """Inserts chunks and their passages (with the vectors they carry) and returns the chunks' ids;
    they are not yet in the postings nor counted in the statistics or their item's chunk count
    (index_chunks, in the same transaction). Touches no row another writer holds, so a new item's
    chunks may be added before
    the library's lock is taken: inserting the passages' vectors into the HNSW graph is most of a
    small document's write, and other documents' writes need not wait for it."""
    # One statement analyses the texts (PostgreSQL's snowball stemmer for each chunk's language) and
    # inserts the chunks and their passages.
    passages = [(c.chunk_index, n, p) for c in chunks for n, p in enumerate(c.passages)]
    cur = await conn.execute(
        """
        WITH src AS (
            SELECT s.*, to_tsvector(s.cfg::regconfig, s.analysed) AS tsv
            FROM unnest(%(idx)s::int[], %(text)s::text[], %(analysed)s::text[], %(ctype)s::text[],
                        %(cfg)s::text[], %(hash)s::text[], %(page)s::int[], %(chapter)s::text[],
                        %(npass)s::int[], %(ocr)s::boolean[])
                 AS s(idx, text, analysed, ctype, cfg, hash, page, chapter, npass, ocr)
        ), ins AS (
            INSERT INTO content_chunks (user_id, item_id, content_type, chunk_index, text, page, chapter,
                                        ts_config, tsv, lexeme_count, content_hash, passage_count, ocr)
            SELECT %(user_id)s, %(item_id)s, src.ctype, src.idx, src.text, src.page, src.chapter,
                   src.cfg::regconfig, src.tsv,
                   coalesce((SELECT sum(coalesce(array_length(l.positions, 1), 1))
                             FROM unnest(src.tsv) l), 0),
                   src.hash, src.npass, src.ocr
            FROM src
            RETURNING id, chunk_index
        ), passages AS (
            INSERT INTO chunk_passages (chunk_id, item_id, user_id, passage_index, text, content_hash, embedding,
                                        embedding_model, embedding_version)
            SELECT ins.id, %(item_id)s, %(user_id)s, p.n, p.text, p.hash, p.emb::vector,
                   CASE WHEN p.emb IS NULL THEN NULL ELSE %(model)s END,
                   CASE WHEN p.emb IS NULL THEN NULL ELSE %(version)s END
            FROM unnest(%(p_idx)s::int[], %(p_n)s::int[], %(p_text)s::text[], %(p_hash)s::text[],
                        %(p_emb)s::text[]) AS p(idx, n, text, hash, emb)
            JOIN ins ON ins.chunk_index = p.idx
        )
        SELECT id FROM ins ORDER BY id
        """,
        {
            "user_id": user_id,
            "item_id": item_id,
            "idx": [c.chunk_index for c in chunks],
            "text": [c.text for c in chunks],
            "analysed": [normalize(c.text, c.ts_config) for c in chunks],
            "ctype": [c.content_type for c in chunks],
            "cfg": [c.ts_config for c in chunks],
            "hash": [c.content_hash for c in chunks],
            "page": [c.page for c in chunks],
            "chapter": [c.chapter for c in chunks],
            "npass": [len(c.passages) for c in chunks],
            "ocr": [c.ocr for c in chunks],
            "p_idx": [idx for idx, _, _ in passages],
            "p_n": [n for _, n, _ in passages],
            "p_text": [p.text for _, _, p in passages],
            "p_hash": [p.content_hash for _, _, p in passages],
            "p_emb": [p.embedding for _, _, p in passages],
            "model": embedding_model,
            "version": embedding_version,
        },
    )
    return [int(r["id"]) for r in await cur.fetchall()]


async def index_chunks(conn: Connection, *, user_id: int, chunk_ids: list[int]) -> None:
    """Adds chunks written by add_chunks to the user's postings, document frequencies and statistics,
    and to their items' chunk counts. Call inside a transaction that holds ``lock_library``: the rows
    it updates are every writer's."""
    if not chunk_ids:
        return
    await conn.execute(
        """
        WITH ins AS (
            SELECT c.id, c.item_id, c.tsv, c.lexeme_count, c.ts_config, c.passage_count
            FROM content_chunks c WHERE c.id = ANY(%(ids)s::bigint[])
        ), counted AS (
            -- Here, under the library's lock, not in add_chunks: a delete takes the lock, then the
            -- item's row, and a writer holding the row while waiting for the lock would deadlock it.
            UPDATE library_items i SET chunk_count = i.chunk_count + g.n
              FROM (SELECT item_id, count(*) AS n FROM ins GROUP BY item_id) g
             WHERE i.id = g.item_id
        ), fresh AS (
            -- The new chunks' postings, packed per lexeme in chunk id order (library/postings.py).
            SELECT l.lexeme, count(*)::int AS n, min(ins.id) AS lo, max(ins.id) AS hi,
                   string_agg(int8send(ins.id), ''::bytea ORDER BY ins.id) AS chunk_ids,
                   string_agg(int2send(least(coalesce(array_length(l.positions, 1), 1), 32767)::int2),
                              ''::bytea ORDER BY ins.id) AS tfs,
                   string_agg(int4send(ins.lexeme_count), ''::bytea ORDER BY ins.id) AS doc_lens
            FROM ins, unnest(ins.tsv) l
            GROUP BY l.lexeme
        ), tails AS (
            SELECT f.lexeme, t.block_no, t.n
            FROM fresh f
            LEFT JOIN LATERAL (SELECT b.block_no, b.n FROM lexeme_postings b
                               WHERE b.user_id = %(user_id)s AND b.lexeme = f.lexeme
                               ORDER BY b.block_no DESC LIMIT 1) t ON true
        ), appended AS (
            -- A lexeme's last block takes the new postings while it stays within the block size...
            UPDATE lexeme_postings b
               SET n = b.n + f.n, min_id = least(b.min_id, f.lo), max_id = greatest(b.max_id, f.hi),
                   chunk_ids = b.chunk_ids || f.chunk_ids, tfs = b.tfs || f.tfs,
                   doc_lens = b.doc_lens || f.doc_lens
              FROM fresh f JOIN tails t ON t.lexeme = f.lexeme
             WHERE b.user_id = %(user_id)s AND b.lexeme = f.lexeme AND b.block_no = t.block_no
               AND t.n + f.n <= %(block_postings)s
        ), blocks AS (
            -- ...otherwise they start the next block (a document's postings are never split).
            INSERT INTO lexeme_postings (user_id, lexeme, block_no, n, min_id, max_id, chunk_ids, tfs, doc_lens)
            SELECT %(user_id)s, f.lexeme, coalesce(t.block_no + 1, 0), f.n, f.lo, f.hi,
                   f.chunk_ids, f.tfs, f.doc_lens
            FROM fresh f JOIN tails t ON t.lexeme = f.lexeme
            WHERE t.block_no IS NULL OR t.n + f.n > %(block_postings)s
        ), dfs AS (
            -- Document frequencies of the new chunks' lexemes, added in lexeme order (a stable
            -- row-lock order; writers of one user are serialised by lock_library anyway).
            INSERT INTO lexeme_df AS d (user_id, lexeme, df)
            SELECT %(user_id)s, l.lexeme, count(*) FROM ins, unnest(ins.tsv) l
            GROUP BY l.lexeme ORDER BY l.lexeme
            ON CONFLICT (user_id, lexeme) DO UPDATE SET df = d.df + EXCLUDED.df
        )
        UPDATE library_stats s
           SET chunk_count = s.chunk_count + t.n,
               lexeme_total = s.lexeme_total + t.lexemes,
               passage_count = s.passage_count + t.passages,
               languages = ARRAY(SELECT DISTINCT unnest(s.languages || t.cfgs) ORDER BY 1)
          FROM (SELECT count(*) AS n, coalesce(sum(lexeme_count), 0) AS lexemes,
                       coalesce(sum(passage_count), 0) AS passages,
                       array_agg(DISTINCT ts_config::text) AS cfgs FROM ins) t
         WHERE s.user_id = %(user_id)s
        """,
        {"user_id": user_id, "ids": chunk_ids, "block_postings": BLOCK_POSTINGS},
    )


def vector_literal(values: list[float]) -> str:
    """Returns the pgvector text form of a vector."""
    return "[" + ",".join(f"{v:.7g}" for v in values) + "]"


async def passages_missing_embedding(
    conn: Connection, *, user_id: int, item_id: UUID | None, model: str, version: str, limit: int
) -> list[dict[str, Any]]:
    """Returns passages that have no vector of the current model (never embedded, or by another model)."""
    cur = await conn.execute(
        """
        SELECT p.id, p.text, p.content_hash FROM chunk_passages p
        WHERE p.user_id = %(user_id)s
          AND (%(item_id)s::uuid IS NULL
               OR p.chunk_id IN (SELECT c.id FROM content_chunks c WHERE c.item_id = %(item_id)s))
          AND (p.embedding IS NULL OR p.embedding_model IS DISTINCT FROM %(model)s
               OR p.embedding_version IS DISTINCT FROM %(version)s)
        ORDER BY p.id
        LIMIT %(limit)s
        """,
        {"user_id": user_id, "item_id": item_id, "model": model, "version": version, "limit": limit},
    )
    return await cur.fetchall()


async def set_embeddings(
    conn: Connection, *, user_id: int, vectors: dict[int, list[float]], model: str, version: str
) -> int:
    """Stores vectors for passages (by id) of the user; returns how many rows took one."""
    if not vectors:
        return 0
    cur = await conn.execute(
        """
        UPDATE chunk_passages c
           SET embedding = v.emb::vector, embedding_model = %(model)s, embedding_version = %(version)s
          FROM unnest(%(ids)s::bigint[], %(embs)s::text[]) AS v(id, emb)
         WHERE c.id = v.id AND c.user_id = %(user_id)s
        """,
        {
            "ids": list(vectors),
            "embs": [vector_literal(v) for v in vectors.values()],
            "model": model,
            "version": version,
            "user_id": user_id,
        },
    )
    return cur.rowcount


async def get_chunks(conn: Connection, *, user_id: int, ids: list[int]) -> list[dict[str, Any]]:
    """Returns the chunks (with their item's details) among ``ids`` that belong to the user: one query."""
    cur = await conn.execute(
        """
        SELECT c.id, c.item_id, i.title AS item_title, i.author AS item_author, i.item_type,
               c.content_type, c.chunk_index, c.text, c.page, c.chapter, c.ocr
        FROM content_chunks c JOIN library_items i ON i.id = c.item_id
        WHERE c.user_id = %s AND c.id = ANY(%s) AND i.deleted_at IS NULL
        ORDER BY array_position(%s, c.id)
        """,
        (user_id, ids, ids),
    )
    return await cur.fetchall()


async def item_chunks(
    conn: Connection, *, user_id: int, item_id: UUID, offset: int, limit: int
) -> list[dict[str, Any]] | None:
    """Returns a slice of an item's chunks in chunk order, each row with the item's chunk total
    (one row with a null ``id`` when the slice is empty); None when the item is not the user's."""
    cur = await conn.execute(
        """
        SELECT c.id, i.id AS item_id, i.title AS item_title, i.author AS item_author, i.item_type,
               c.content_type, c.chunk_index, c.text, c.page, c.chapter, coalesce(c.ocr, false) AS ocr,
               (SELECT count(*) FROM content_chunks n WHERE n.item_id = i.id) AS total
        FROM library_items i
        LEFT JOIN LATERAL (
            SELECT c.id, c.content_type, c.chunk_index, c.text, c.page, c.chapter, c.ocr
            FROM content_chunks c WHERE c.item_id = i.id
            ORDER BY c.chunk_index OFFSET %s LIMIT %s
        ) c ON true
        WHERE i.id = %s AND i.user_id = %s AND i.deleted_at IS NULL
        ORDER BY c.chunk_index
        """,
        (offset, limit, item_id, user_id),
    )
    rows = await cur.fetchall()
    return rows or None


async def tag_counts(conn: Connection, *, user_id: int, limit: int) -> list[dict[str, Any]]:
    """Returns (tag, count) over the user's live items, most used first."""
    cur = await conn.execute(
        """
        SELECT t.tag, count(*) AS count
        FROM library_items i CROSS JOIN LATERAL unnest(i.tags) AS t(tag)
        WHERE i.user_id = %s AND i.deleted_at IS NULL
        GROUP BY t.tag
        ORDER BY count(*) DESC, t.tag
        LIMIT %s
        """,
        (user_id, limit),
    )
    return await cur.fetchall()


async def stale_vector_counts(conn: Connection, *, model: str, version: str) -> list[dict[str, Any]]:
    """Returns (user_id, n) for users whose passages lack a vector of this model and version."""
    cur = await conn.execute(
        """
        SELECT user_id, count(*) AS n FROM chunk_passages
        WHERE embedding IS NULL OR embedding_model IS DISTINCT FROM %s OR embedding_version IS DISTINCT FROM %s
        GROUP BY user_id
        """,
        (model, version),
    )
    return await cur.fetchall()


async def lock_original(conn: Connection, *, file_sha256: str) -> None:
    """Locks one kept original for the transaction: keeping it and removing it take turns."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("original:" + file_sha256,))


async def lock_originals(conn: Connection, *, file_sha256s: list[str]) -> None:
    """Locks kept originals for the transaction, in sorted order (two transactions locking some of
    the same files never wait for each other in a cycle)."""
    # PostgreSQL evaluates a volatile function of the select list after the ORDER BY (9.6 and later).
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtextextended('original:' || d, 0))
           FROM (SELECT DISTINCT d FROM unnest(%s::text[]) AS d) s ORDER BY d""",
        (file_sha256s,),
    )


async def item_file(conn: Connection, *, user_id: int, item_id: UUID) -> dict[str, Any] | None:
    """Returns the file digest, media type and name of one of the user's live items (None: no such item)."""
    cur = await conn.execute(
        """SELECT file_sha256, source_mime, source_filename FROM library_items
           WHERE id = %s AND user_id = %s AND deleted_at IS NULL""",
        (item_id, user_id),
    )
    return await cur.fetchone()


async def file_digests(conn: Connection, *, item_ids: list[UUID]) -> list[str]:
    """Returns the distinct file digests of the given items (deleted or not)."""
    cur = await conn.execute(
        "SELECT DISTINCT file_sha256 FROM library_items WHERE id = ANY(%s) AND file_sha256 IS NOT NULL", (item_ids,)
    )
    return [str(r["file_sha256"]) for r in await cur.fetchall()]


async def original_in_use(conn: Connection, *, file_sha256: str) -> bool:
    """Returns whether any live item of any user still has this file, or a batch waits to be unpacked from it."""
    cur = await conn.execute(
        """SELECT EXISTS (SELECT 1 FROM library_items WHERE file_sha256 = %(sha)s AND deleted_at IS NULL)
               OR EXISTS (SELECT 1 FROM ingestion_runs WHERE batch IS NOT NULL AND batch->>'sha256' = %(sha)s)
               AS used""",
        {"sha": file_sha256},
    )
    row = await cur.fetchone()
    return bool(row and row["used"])
