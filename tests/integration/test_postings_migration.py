"""Migration 0015 packs a library's existing BM25 postings (one row per posting in ``chunk_lexemes``)
into ``lexeme_postings`` blocks that hold the very same postings, and search reads them."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from tests.integration.conftest import database_migrated_before
from tomehub.library.postings import BLOCK_POSTINGS, PackedBlock
from tomehub.store.embedded import EmbeddedServer
from tomehub.store.migrate import apply_migrations

# 300 chunks over a small vocabulary: "common" is in every chunk (three blocks), "rare" in a few.
_OLD_LIBRARY = """
INSERT INTO users (uid) VALUES ('migrated');
INSERT INTO library_stats (user_id) SELECT id FROM users WHERE uid = 'migrated';
INSERT INTO library_items (id, user_id, item_type, title)
SELECT '00000000-0000-0000-0000-000000000001', id, 'BOOK', 'Old book' FROM users WHERE uid = 'migrated';
INSERT INTO content_chunks (user_id, item_id, content_type, chunk_index, text, ts_config, tsv, lexeme_count,
                            content_hash)
SELECT u.id, '00000000-0000-0000-0000-000000000001', 'BODY', g, t.text, 'english',
       to_tsvector('english', t.text), 0, 'h' || g
FROM users u, generate_series(0, 299) g,
     LATERAL (SELECT 'common words ' || CASE WHEN g % 50 = 0 THEN 'rare ' ELSE '' END
                     || repeat('repeated ', g % 4 + 1) || 'chunk' || g AS text) t
WHERE u.uid = 'migrated';
UPDATE content_chunks SET lexeme_count = (SELECT sum(coalesce(array_length(l.positions, 1), 1)) FROM unnest(tsv) l);
INSERT INTO chunk_lexemes (user_id, lexeme, chunk_id, tf, doc_len)
SELECT c.user_id, l.lexeme, c.id, coalesce(array_length(l.positions, 1), 1), c.lexeme_count
FROM content_chunks c, unnest(c.tsv) l;
INSERT INTO lexeme_df (user_id, lexeme, df) SELECT user_id, lexeme, count(*) FROM chunk_lexemes GROUP BY 1, 2;
"""


def test_existing_postings_are_packed_into_blocks(pg_server: EmbeddedServer) -> None:
    url = database_migrated_before(pg_server, "0015")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(_OLD_LIBRARY)
        before = {
            (r["lexeme"], r["chunk_id"], r["tf"], r["doc_len"])
            for r in conn.execute("SELECT lexeme, chunk_id, tf, doc_len FROM chunk_lexemes").fetchall()
        }
    assert len(before) > 1200

    assert apply_migrations(url)[0] == "0015_packed_postings"

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM lexeme_postings ORDER BY lexeme, block_no").fetchall()
        after = set()
        for r in rows:
            block = PackedBlock.from_row(r)
            assert r["n"] == block.n <= BLOCK_POSTINGS
            assert (r["min_id"], r["max_id"]) == (block.min_id, block.max_id)
            after |= {
                (r["lexeme"], int(i), int(t), int(d))
                for i, t, d in zip(block.chunk_ids, block.tfs, block.doc_lens, strict=True)
            }
        assert after == before
        assert [r["block_no"] for r in rows if r["lexeme"] == "common"] == [0, 1, 2]
        # The SQL reader of a block (analytics) sees the same postings.
        unpacked = conn.execute(
            """SELECT u.chunk_id, u.tf FROM lexeme_postings p, unpack_postings(p.chunk_ids, p.tfs) u
               WHERE p.lexeme = 'repeat' ORDER BY u.chunk_id"""
        ).fetchall()
        assert [(r["chunk_id"], r["tf"]) for r in unpacked] == sorted(
            (c, t) for lx, c, t, _ in before if lx == "repeat"
        )
        assert conn.execute("SELECT to_regclass('chunk_lexemes') AS t").fetchone() == {"t": None}
