-- A filtered search lists the chunks of its allowed items (search/repo.py's allowed_few and
-- allowed_chunks): from this index alone (an index-only scan), where the unique (item_id,
-- chunk_index) index made PostgreSQL read every chunk row instead (a sequential scan of the text,
-- ~30 ms at 100,000 chunks for a tag of 11 %).
--
-- The GIN index on content_chunks.tsv served no query (BM25 reads lexeme_postings; deletes read the
-- tsv column itself), and every chunk insert paid for it.
-- depends: 0015_packed_postings

CREATE INDEX content_chunks_item_ids ON content_chunks (item_id) INCLUDE (id);
DROP INDEX IF EXISTS content_chunks_tsv;
