-- A run's cancelled files, indexed apart: every file (or group of files) that finishes counts the
-- run's cancelled files (ingest/repo.py finish_file_in_run). Through the index on run_id that read
-- every file of the run, so a batch of n files read n² rows while it finished; the partial index
-- holds the cancelled ones only.
-- depends: 0019_item_chunk_counts

CREATE INDEX ingestion_files_run_cancelled ON ingestion_files (run_id) WHERE status = 'cancelled';
