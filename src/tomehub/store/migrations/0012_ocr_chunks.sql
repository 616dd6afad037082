-- Scanned PDF pages are read by OCR (ingest/parsers/ocr.py): a chunk says whether its text was
-- recognised from an image (it may hold recognition errors) or extracted from the document, and a
-- file being parsed counts its scanned pages read so far, for the run's progress.
-- depends: 0011_kept_originals

ALTER TABLE content_chunks ADD COLUMN ocr boolean NOT NULL DEFAULT false;

ALTER TABLE ingestion_files
    ADD COLUMN pages_done  integer NOT NULL DEFAULT 0,
    ADD COLUMN pages_total integer NOT NULL DEFAULT 0;
