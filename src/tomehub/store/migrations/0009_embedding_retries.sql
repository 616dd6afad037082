-- A file whose passages cannot be embedded (provider down, breaker open, wrong dimension) is tried
-- again later and finally fails: the file counts its attempts and since when it fails, the run shows
-- the last cause and when the next attempt is due, so nobody watches a silent "running".
-- depends: 0008_chats

ALTER TABLE ingestion_runs
    ADD COLUMN embedding_error text,
    ADD COLUMN embedding_retry_at timestamptz;

ALTER TABLE ingestion_files
    ADD COLUMN embedding_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN embedding_failing_since timestamptz;
