-- Highlights imported from Kindle's My Clippings.txt or a Readwise export: each remembers the book
-- item it was taken from (when the library holds that book) and a key (book, place, text hash) that
-- makes re-importing the same file add nothing. The run counts what it added and what it skipped.
-- depends: 0009_embedding_retries

ALTER TABLE library_items
    ADD COLUMN source_item_id uuid REFERENCES library_items (id) ON DELETE SET NULL,
    ADD COLUMN highlight_key text;
CREATE UNIQUE INDEX library_items_user_highlight ON library_items (user_id, highlight_key)
    WHERE deleted_at IS NULL AND highlight_key IS NOT NULL;
CREATE INDEX library_items_source_item ON library_items (source_item_id) WHERE source_item_id IS NOT NULL;
-- Finding a highlight's book by its folded title.
CREATE INDEX library_items_user_folded_title ON library_items (user_id, lower(regexp_replace(title, '\s+', ' ', 'g')))
    WHERE deleted_at IS NULL;

ALTER TABLE ingestion_runs
    ADD COLUMN highlights_added integer NOT NULL DEFAULT 0,
    ADD COLUMN highlights_skipped integer NOT NULL DEFAULT 0;
