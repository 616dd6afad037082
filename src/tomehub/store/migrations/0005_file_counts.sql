-- Each file counts the passages embedded for it, in the same transaction as their vectors, so a
-- retried job (after a kill) can tell what it embedded from what it found already embedded.
-- depends: 0004_passages

ALTER TABLE ingestion_files ADD COLUMN passages_embedded integer NOT NULL DEFAULT 0;
