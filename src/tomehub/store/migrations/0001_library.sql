-- TomeHub's library: users, items, chunks, the BM25 postings, ingestion runs.
-- depends:

CREATE EXTENSION IF NOT EXISTS vector;

-- A user is known by the uid of a verified token; everything else refers to the compact id.
CREATE TABLE users (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid         text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-user corpus statistics for BM25 (N, average length) and the library revision that keys
-- cached search results. Updated in the same transaction as the chunks they describe.
CREATE TABLE library_stats (
    user_id        integer PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    chunk_count    bigint  NOT NULL DEFAULT 0,
    lexeme_total   bigint  NOT NULL DEFAULT 0,
    -- Text-search configurations used by this user's chunks; queries are analysed with each.
    languages      text[]  NOT NULL DEFAULT '{}',
    revision       bigint  NOT NULL DEFAULT 0
);

CREATE TABLE library_items (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_type       text NOT NULL CHECK (item_type IN
                        ('BOOK', 'ARTICLE', 'WEBSITE', 'PERSONAL_NOTE', 'HIGHLIGHT', 'INSIGHT')),
    title           text NOT NULL,
    author          text,
    isbn            text,
    tags            text[] NOT NULL DEFAULT '{}',
    summary         text,
    -- Where the content came from: an uploaded file (name, type, SHA-256) or typed text.
    source_filename text,
    source_mime     text,
    file_sha256     text,
    language        text,
    -- pending -> ready | failed (ingestion of the file behind the item)
    status          text NOT NULL DEFAULT 'ready' CHECK (status IN ('pending', 'ready', 'failed')),
    status_detail   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE INDEX library_items_user_created ON library_items (user_id, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX library_items_tags ON library_items USING gin (tags);
-- The same file uploaded twice by one user is one item (idempotent ingestion).
CREATE UNIQUE INDEX library_items_user_file ON library_items (user_id, file_sha256)
    WHERE deleted_at IS NULL AND file_sha256 IS NOT NULL;

CREATE TABLE content_chunks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id           uuid NOT NULL REFERENCES library_items (id) ON DELETE CASCADE,
    content_type      text NOT NULL,
    chunk_index       integer NOT NULL,
    text              text NOT NULL,
    page              integer,
    chapter           text,
    -- Text-search configuration the chunk was analysed with (its detected language).
    ts_config         regconfig NOT NULL,
    tsv               tsvector NOT NULL,
    -- BM25 document length: lexeme occurrences in tsv.
    lexeme_count      integer NOT NULL,
    -- No fixed dimension: each embedding model has its own partial HNSW index over its rows, so
    -- vectors of different models are never compared.
    embedding         vector,
    embedding_model   text,
    embedding_version text,
    content_hash      text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (item_id, chunk_index)
);
CREATE INDEX content_chunks_user ON content_chunks (user_id);
CREATE INDEX content_chunks_user_hash ON content_chunks (user_id, content_hash);
CREATE INDEX content_chunks_tsv ON content_chunks USING gin (tsv);

-- BM25 postings: one row per (user, lexeme, chunk) with the term frequency and the chunk's length.
-- The primary key serves the scoring query as an index-only scan; per-user keys keep one user's
-- statistics from shifting another's scores.
CREATE TABLE chunk_lexemes (
    user_id   integer  NOT NULL,
    lexeme    text     NOT NULL,
    chunk_id  bigint   NOT NULL REFERENCES content_chunks (id) ON DELETE CASCADE,
    tf        smallint NOT NULL,
    doc_len   integer  NOT NULL,
    PRIMARY KEY (user_id, lexeme, chunk_id) INCLUDE (tf, doc_len)
);
CREATE INDEX chunk_lexemes_chunk ON chunk_lexemes (chunk_id);

CREATE TABLE ingestion_runs (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label          text NOT NULL,
    -- queued -> running -> succeeded | completed_with_errors | failed
    status         text NOT NULL DEFAULT 'queued',
    files_total    integer NOT NULL DEFAULT 0,
    files_done     integer NOT NULL DEFAULT 0,
    files_failed   integer NOT NULL DEFAULT 0,
    chunks_written integer NOT NULL DEFAULT 0,
    chunks_reused  integer NOT NULL DEFAULT 0,
    chunks_embedded integer NOT NULL DEFAULT 0,
    errors         jsonb NOT NULL DEFAULT '[]',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX ingestion_runs_user ON ingestion_runs (user_id, created_at DESC);

-- Uploaded bytes wait here for a worker (on any machine); they are dropped once processed.
CREATE TABLE ingestion_files (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    run_id      uuid NOT NULL REFERENCES ingestion_runs (id) ON DELETE CASCADE,
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id     uuid NOT NULL REFERENCES library_items (id) ON DELETE CASCADE,
    filename    text NOT NULL,
    size_bytes  bigint NOT NULL,
    sha256      text NOT NULL,
    data        bytea,
    -- queued -> done | failed
    status      text NOT NULL DEFAULT 'queued',
    -- The queue's job for this file; NULL means it was never enqueued (swept up at worker start).
    job_id      bigint,
    error_code  text,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX ingestion_files_run ON ingestion_files (run_id);
