-- A batch (zip) upload is unpacked by a job, entry by entry, while the upload has long been answered:
-- until then the run holds the zip's SHA-256 (the zip waits in the kept originals) and the item type
-- and tags the upload asked for. NULL once every entry is recorded.
-- depends: 0011_kept_originals
ALTER TABLE ingestion_runs ADD COLUMN IF NOT EXISTS batch jsonb;
CREATE INDEX IF NOT EXISTS ingestion_runs_pending_batch ON ingestion_runs ((batch->>'sha256'))
    WHERE batch IS NOT NULL;
