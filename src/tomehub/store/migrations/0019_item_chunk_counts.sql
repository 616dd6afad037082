-- Each item counts its chunks, kept in the statements that index and delete them, under the
-- library's lock (library/repo.py's index_chunks and _delete_chunks). A filtered search then knows how many chunks
-- its allowed items hold from the items alone: whether to list them, and what share of the library
-- they are, without counting up to 5,001 chunk rows per search (search/repo.py). Item listings read
-- the count instead of counting each item's chunks.
-- depends: 0018_passage_item_ids

ALTER TABLE library_items ADD COLUMN chunk_count integer NOT NULL DEFAULT 0;
UPDATE library_items i SET chunk_count = c.n
FROM (SELECT item_id, count(*) AS n FROM content_chunks GROUP BY item_id) c
WHERE c.item_id = i.id;
