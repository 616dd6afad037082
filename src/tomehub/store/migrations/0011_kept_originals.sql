-- Kept originals are shared by every user's items with the same SHA-256: a delete asks whether any
-- live item (of any user) still has the file, which the per-user unique index cannot answer alone.
-- depends: 0010_highlight_sources
CREATE INDEX IF NOT EXISTS library_items_live_file ON library_items (file_sha256)
    WHERE deleted_at IS NULL AND file_sha256 IS NOT NULL;
