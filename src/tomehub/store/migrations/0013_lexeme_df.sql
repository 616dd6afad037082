-- BM25 document frequencies kept per user and lexeme at write time, in the same transaction as the
-- postings they count (library/repo.py: chunk inserts add, chunk deletes subtract, a user's rows go
-- with the user). A search reads one row per query lexeme instead of counting its postings, which
-- at 100,000 chunks was a third of the BM25 time (every posting was read twice).
--
-- A lexeme's key is whatever the postings use: another lexical list (e.g. lemmas, exact surface
-- forms) stores its terms with its own prefix in the same two tables and gets its own frequencies.
-- depends: 0012_ocr_chunks

CREATE TABLE lexeme_df (
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lexeme  text    NOT NULL,
    df      integer NOT NULL CHECK (df > 0),
    PRIMARY KEY (user_id, lexeme)
);

INSERT INTO lexeme_df (user_id, lexeme, df)
SELECT user_id, lexeme, count(*) FROM chunk_lexemes GROUP BY user_id, lexeme;
