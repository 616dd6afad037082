-- Indexes for browsing the library in the web app: every sort of GET /api/library/items pages by
-- keyset on exactly these keys (library/repo.py ITEM_ORDERS), so a page is an index range scan, not
-- a sort of the whole library; runs are found by item (an item's history) and across users (admins).
-- depends: 0006_accounts

CREATE INDEX library_items_user_created_id ON library_items (user_id, created_at, id)
    WHERE deleted_at IS NULL;
CREATE INDEX library_items_user_title ON library_items (user_id, lower(title), id)
    WHERE deleted_at IS NULL;
CREATE INDEX library_items_user_author ON library_items
    (user_id, (author IS NULL), lower(coalesce(author, '')), lower(title), id)
    WHERE deleted_at IS NULL;
-- The older (user_id, created_at DESC) index is covered by the new one scanned in either direction.
DROP INDEX library_items_user_created;
CREATE INDEX ingestion_files_item ON ingestion_files (item_id);
CREATE INDEX ingestion_runs_created ON ingestion_runs (created_at DESC);
