"""SQL of the analytics: every statement starts from the user's BM25 postings (``lexeme_postings``,
packed per (user_id, lexeme) and unpacked by ``unpack_postings``), so it reads the chunks holding the
term and no others.

A term's stems come in pairs (text-search configuration, lexeme): a chunk is matched only by the
stems of its own configuration, so an English stem never finds a Turkish chunk that happens to
hold the same letters.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tomehub.store.db import Connection

# One row per text-search configuration of the user's library with the term's stems in it. The
# term is normalised in Python first (Turkish casing) exactly as documents are (library.analysis).
_TERM_LEXEMES = """
SELECT cfg, tsvector_to_array(to_tsvector(cfg::regconfig,
                              CASE WHEN cfg = 'turkish' THEN %(q_tr)s ELSE %(q_std)s END)) AS lexemes
FROM library_stats s CROSS JOIN LATERAL unnest(s.languages) AS cfg
WHERE s.user_id = %(uid)s
ORDER BY cfg
"""

# The chunks holding the term: the postings of each (configuration, stem) pair, kept only where the
# chunk was analysed with that configuration. MATERIALIZED: the postings are read once, through the
# primary key, before anything joins them.
_HITS = """
terms AS (
    SELECT t.cfg::regconfig AS cfg, t.lexeme
    FROM unnest(%(cfgs)s::text[], %(lexemes)s::text[]) AS t(cfg, lexeme)
),
hits AS MATERIALIZED (
    SELECT u.chunk_id, t.cfg, sum(u.tf)::int AS tf
    FROM terms t
    JOIN lexeme_postings p ON p.user_id = %(uid)s AND p.lexeme = t.lexeme
    CROSS JOIN LATERAL unpack_postings(p.chunk_ids, p.tfs) u
    GROUP BY u.chunk_id, t.cfg
)
"""

# Each hit's item by its primary key. As a plain join, PostgreSQL read the hits as ~2 rows (the
# unpacked postings and the configuration check defeat its estimates) and compared every hit with
# every item (1,800 hits x 200 items: 30 of 50 ms at 10,000 chunks); OFFSET 0 keeps it a probe per hit.
_ITEM = """
CROSS JOIN LATERAL (SELECT li.id, li.title, li.author, li.item_type FROM library_items li
                    WHERE li.id = c.item_id AND li.deleted_at IS NULL OFFSET 0) i
"""

_CONCORDANCE = f"""
WITH {_HITS}
SELECT c.id AS chunk_id, c.item_id, i.title, i.author, c.chunk_index, c.page, c.chapter, c.text,
       c.ts_config::text AS ts_config, h.tf, lower(i.title) AS sort_title
FROM hits h
JOIN content_chunks c ON c.id = h.chunk_id AND c.ts_config = h.cfg AND c.user_id = %(uid)s
{_ITEM}
WHERE (%(item_id)s::uuid IS NULL OR c.item_id = %(item_id)s::uuid)
  AND (%(after_title)s::text IS NULL
       OR (lower(i.title), i.id, c.chunk_index) >= (%(after_title)s::text, %(after_item)s::uuid, %(after_index)s::int))
ORDER BY lower(i.title), i.id, c.chunk_index
LIMIT %(limit)s
"""

_DISTRIBUTION = f"""
WITH {_HITS}
SELECT i.id AS item_id, i.title, i.author, i.item_type, c.page, c.chapter,
       sum(h.tf)::bigint AS count, count(*) AS chunks
FROM hits h
JOIN content_chunks c ON c.id = h.chunk_id AND c.ts_config = h.cfg AND c.user_id = %(uid)s
{_ITEM}
WHERE (%(item_id)s::uuid IS NULL OR c.item_id = %(item_id)s::uuid)
GROUP BY i.id, i.title, i.author, i.item_type, c.page, c.chapter
"""

# Each distinct word of the chunks shown, stemmed by the same PostgreSQL stemmer that built the
# postings; Python then knows which words of the text are occurrences of the term.
_STEM_WORDS = """
SELECT t.cfg, t.word, tsvector_to_array(to_tsvector(t.cfg::regconfig, t.word)) AS lexemes
FROM unnest(%(cfgs)s::text[], %(words)s::text[]) AS t(cfg, word)
"""


async def term_lexemes(conn: Connection, *, user_id: int, q_tr: str, q_std: str) -> dict[str, list[str]]:
    """Returns the term's stems per text-search configuration in the user's library (configurations
    where the term is a stop word are left out)."""
    cur = await conn.execute(_TERM_LEXEMES, {"uid": user_id, "q_tr": q_tr, "q_std": q_std})
    return {str(r["cfg"]): list(r["lexemes"]) for r in await cur.fetchall() if r["lexemes"]}


def _pairs(lexemes: dict[str, list[str]]) -> dict[str, list[str]]:
    pairs = [(cfg, lexeme) for cfg, stems in lexemes.items() for lexeme in stems]
    return {"cfgs": [cfg for cfg, _ in pairs], "lexemes": [lexeme for _, lexeme in pairs]}


async def concordance_chunks(
    conn: Connection,
    *,
    user_id: int,
    lexemes: dict[str, list[str]],
    item_id: UUID | None,
    after: tuple[str, UUID, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Returns up to ``limit`` chunks holding the term, ordered by (item title, item id, chunk index)
    from the key ``after`` on (inclusive), with their text and configuration."""
    after_title, after_item, after_index = after if after is not None else (None, None, None)
    cur = await conn.execute(
        _CONCORDANCE,
        {
            **_pairs(lexemes),
            "uid": user_id,
            "item_id": item_id,
            "after_title": after_title,
            "after_item": after_item,
            "after_index": after_index,
            "limit": limit,
        },
    )
    return await cur.fetchall()


async def distribution_rows(
    conn: Connection, *, user_id: int, lexemes: dict[str, list[str]], item_id: UUID | None
) -> list[dict[str, Any]]:
    """Returns (item, page, chapter, occurrences, chunks) for every section holding the term."""
    cur = await conn.execute(_DISTRIBUTION, {**_pairs(lexemes), "uid": user_id, "item_id": item_id})
    return await cur.fetchall()


async def stem_words(conn: Connection, *, words: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Returns (configuration, word) -> the word's stems, for words already normalised for their
    configuration."""
    if not words:
        return {}
    cur = await conn.execute(_STEM_WORDS, {"cfgs": [cfg for cfg, _ in words], "words": [word for _, word in words]})
    return {(str(r["cfg"]), str(r["word"])): list(r["lexemes"]) for r in await cur.fetchall()}
