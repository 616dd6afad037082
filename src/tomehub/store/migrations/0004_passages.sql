-- Small-to-big retrieval: a chunk (the unit of BM25, of results and of citations) is embedded as
-- the passages it is made of. Dense matching on short passages is far more precise than on a whole
-- chunk (measured in docs/retrieval.md); a passage's hit is the hit of its chunk.
-- depends: 0003_embedding_spaces

CREATE TABLE chunk_passages (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id          bigint NOT NULL REFERENCES content_chunks (id) ON DELETE CASCADE,
    user_id           integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    passage_index     smallint NOT NULL,
    text              text NOT NULL,
    content_hash      text NOT NULL,
    -- No fixed dimension: each embedding model has its own partial HNSW index over its rows.
    embedding         vector,
    embedding_model   text,
    embedding_version text,
    UNIQUE (chunk_id, passage_index)
);
CREATE INDEX chunk_passages_user ON chunk_passages (user_id);
CREATE INDEX chunk_passages_user_hash ON chunk_passages (user_id, content_hash);

-- Vectors move from chunks to passages; the old per-model indexes go with the column.
ALTER TABLE content_chunks
    DROP COLUMN embedding,
    DROP COLUMN embedding_model,
    DROP COLUMN embedding_version,
    ADD COLUMN passage_count smallint NOT NULL DEFAULT 0;
DELETE FROM embedding_spaces;

ALTER TABLE library_stats ADD COLUMN passage_count bigint NOT NULL DEFAULT 0;

-- Chunks written before this migration become one passage each (re-embedded by `tomehub reembed`
-- or at the next start); re-ingesting their file splits them like new ones.
INSERT INTO chunk_passages (chunk_id, user_id, passage_index, text, content_hash)
SELECT id, user_id, 0, text, content_hash FROM content_chunks;
UPDATE content_chunks SET passage_count = 1;
UPDATE library_stats s SET passage_count = (SELECT count(*) FROM chunk_passages p WHERE p.user_id = s.user_id);

-- Runs count embeddings in passages now.
ALTER TABLE ingestion_runs RENAME COLUMN chunks_reused TO passages_reused;
ALTER TABLE ingestion_runs RENAME COLUMN chunks_embedded TO passages_embedded;
