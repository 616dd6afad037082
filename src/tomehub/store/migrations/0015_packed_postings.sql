-- BM25 postings packed per lexeme: one row holds up to ~128 postings of one (user, lexeme) as three
-- byte strings instead of one row (and two index entries) per posting. At 100,000 chunks the row
-- layout took 1.7 GB, 13x the chunks' text, and a 14-word query read ~58,000 index tuples; packed,
-- a query fetches a few hundred rows and the API process scores them with numpy
-- (search/keyword.py; the layout is library/postings.py). Each posting is a big-endian int8 chunk id, int2 term frequency and int4
-- chunk length (int8send/int2send/int4send, so SQL writes them and numpy reads them as '>i8' etc.).
--
-- Writes append a document's postings to the lexeme's last block while it stays within 128
-- (library/repo.py); deletes rewrite the blocks whose [min_id, max_id] range holds a deleted chunk.
-- There is no foreign key to the chunks: the delete path (library/repo.py) is the only one that
-- removes chunks, and it removes their postings in the same transaction. fillfactor leaves room on
-- each page for an appended block's new version (a HOT update: the key does not change).
-- depends: 0014_batch_archives

CREATE TABLE lexeme_postings (
    user_id   integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lexeme    text    NOT NULL,
    block_no  integer NOT NULL,
    n         integer NOT NULL CHECK (n > 0),
    min_id    bigint  NOT NULL,
    max_id    bigint  NOT NULL,
    chunk_ids bytea   NOT NULL,
    tfs       bytea   NOT NULL,
    doc_lens  bytea   NOT NULL,
    PRIMARY KEY (user_id, lexeme, block_no)
) WITH (fillfactor = 80);

INSERT INTO lexeme_postings (user_id, lexeme, block_no, n, min_id, max_id, chunk_ids, tfs, doc_lens)
SELECT user_id, lexeme, blk, count(*), min(chunk_id), max(chunk_id),
       string_agg(int8send(chunk_id), ''::bytea ORDER BY chunk_id),
       string_agg(int2send(tf), ''::bytea ORDER BY chunk_id),
       string_agg(int4send(doc_len), ''::bytea ORDER BY chunk_id)
FROM (SELECT p.*, ((row_number() OVER (PARTITION BY user_id, lexeme ORDER BY chunk_id) - 1) / 128)::int AS blk
      FROM chunk_lexemes p) s
GROUP BY user_id, lexeme, blk;

DROP TABLE chunk_lexemes;

-- The postings of a block as rows, for the statements that read a few lexemes' postings in SQL
-- (analytics: concordance and distribution).
CREATE FUNCTION unpack_postings(chunk_ids bytea, tfs bytea) RETURNS TABLE (chunk_id bigint, tf integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('x' || encode(substring(chunk_ids FROM i * 8 + 1 FOR 8), 'hex'))::bit(64)::bigint,
           get_byte(tfs, i * 2) * 256 + get_byte(tfs, i * 2 + 1)
    FROM generate_series(0, length(chunk_ids) / 8 - 1) AS i
$$;
