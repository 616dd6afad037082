"""Migration 0018 gives every existing passage its chunk's item, and drops the vector indexes
(rebuilt in one pass by the next start) instead of re-inserting every rewritten row into them;
migration 0019 gives every item the count of its chunks."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from tests.integration.conftest import database_migrated_before
from tomehub.store.embedded import EmbeddedServer
from tomehub.store.migrate import apply_migrations

# Two items of 20 chunks, two passages each, with vectors and a registered HNSW index.
_OLD_LIBRARY = """
INSERT INTO users (uid) VALUES ('migrated');
INSERT INTO library_stats (user_id) SELECT id FROM users WHERE uid = 'migrated';
INSERT INTO library_items (id, user_id, item_type, title)
SELECT ('00000000-0000-0000-0000-00000000000' || n)::uuid, u.id, 'BOOK', 'Old book ' || n
FROM users u, generate_series(1, 2) n WHERE u.uid = 'migrated';
INSERT INTO content_chunks (user_id, item_id, content_type, chunk_index, text, ts_config, tsv, lexeme_count,
                            content_hash)
SELECT i.user_id, i.id, 'BODY', g, 'text ' || g, 'english', to_tsvector('english', 'text'), 1, 'h' || g
FROM library_items i, generate_series(0, 19) g;
INSERT INTO chunk_passages (chunk_id, user_id, passage_index, text, content_hash, embedding, embedding_model,
                            embedding_version)
SELECT c.id, c.user_id, p, c.text, c.content_hash || p, ARRAY[random(), random(), random()]::vector, 'm', '1'
FROM content_chunks c, generate_series(0, 1) p;
INSERT INTO embedding_spaces (model, version, dim, index_name) VALUES ('m', '1', 3, 'old_passage_hnsw');
CREATE INDEX old_passage_hnsw ON chunk_passages USING hnsw ((embedding::halfvec(3)) halfvec_cosine_ops)
    WHERE embedding_model = 'm' AND embedding_version = '1';
"""


def test_existing_passages_get_their_items_and_items_their_chunk_counts(
    pg_server: EmbeddedServer,
) -> None:
    url = database_migrated_before(pg_server, "0018")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(_OLD_LIBRARY)

    assert apply_migrations(url)[0] == "0018_passage_item_ids"

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(
            """SELECT p.item_id AS copied, c.item_id FROM chunk_passages p
               JOIN content_chunks c ON c.id = p.chunk_id"""
        ).fetchall()
        assert len(rows) == 80
        assert all(r["copied"] == r["item_id"] for r in rows)
        assert len({r["copied"] for r in rows}) == 2
        assert conn.execute("SELECT to_regclass('old_passage_hnsw') AS i").fetchone() == {"i": None}
        # The space stays registered: the start's CREATE INDEX ... IF NOT EXISTS builds it again.
        assert conn.execute("SELECT index_name FROM embedding_spaces").fetchall() == [
            {"index_name": "old_passage_hnsw"}
        ]
        nullable = conn.execute(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'chunk_passages' AND column_name = 'item_id'"
        ).fetchone()
        assert nullable == {"is_nullable": "NO"}
        counts = conn.execute("SELECT chunk_count FROM library_items ORDER BY id").fetchall()
        assert counts == [{"chunk_count": 20}, {"chunk_count": 20}]
