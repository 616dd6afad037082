-- A passage carries its chunk's item, so that a filtered search's HNSW walk checks each passage the
-- index yields against the allowed items on the row it has just read. Before, each check was a
-- primary-key lookup of the passage's chunk (an index probe and a heap fetch of a wide chunk row),
-- for each of the ~1,600 passages the walk visits to find 150 of a tag holding 10 % of a library
-- (docs/performance.md, stop 21). A chunk never changes item, so the copy cannot go stale.
--
-- Filling the column rewrites every passage, and each new row version would be inserted into the
-- HNSW graph one at a time (minutes per 100,000 passages). The vector indexes are dropped first
-- instead: the start that applies this migration rebuilds them in one pass before it serves
-- (ensure_vector_index, about a minute per 200,000 passages on two cores).
-- depends: 0017_pending_passages

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT index_name FROM embedding_spaces WHERE index_name IS NOT NULL LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', r.index_name);
    END LOOP;
END $$;

ALTER TABLE chunk_passages ADD COLUMN item_id uuid;
UPDATE chunk_passages p SET item_id = c.item_id FROM content_chunks c WHERE c.id = p.chunk_id;
ALTER TABLE chunk_passages ALTER COLUMN item_id SET NOT NULL;
