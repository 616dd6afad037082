"""Lexical retrieval: Okapi BM25 computed inside PostgreSQL from the per-user postings.

OR semantics (a chunk matches if it shares any lexeme with the query), IDF from the user's own
document frequencies, length normalisation against the user's average chunk length. The query is
analysed with every text-search configuration the user's library uses, so a Turkish query meets
Turkish stems and an English one English stems.
"""

from __future__ import annotations

# CTEs: stats (N, avgdl, languages), qlex (query lexemes), qdf (their document frequencies, kept in
# lexeme_df at write time, and IDF), lexical (top chunks by BM25, ranked). A lexeme absent from
# lexeme_df is in no chunk of the user's and scores nothing. qdf is MATERIALIZED so the IDF is
# computed once per lexeme, not once per posting.
# Parameters: uid, q_tr (query normalised for Turkish), q_std (for every other language),
# k1, b, depth. Unfiltered, {allowed_scan} and {allowed_ranked} are TRUE and {ranked_limit} is the
# LIMIT (a bounded top-N sort). A filtered search (search/repo.py) sets {allowed_scan} to a predicate
# on each posting's p.chunk_id and {allowed_ranked} to one on each scored chunk's sc.chunk_id, with
# {ranked_limit} OFFSET 0: the scored chunks come sorted, unlimited and unfiltered out of the inner
# query (OFFSET 0 keeps the predicate from being pushed into it), so the predicate is evaluated best
# first only until depth chunks pass.
KEYWORD_CTES = """
stats AS (
    SELECT greatest(chunk_count, 1)::float8 AS n,
           greatest(lexeme_total::float8 / greatest(chunk_count, 1), 1.0) AS avgdl,
           chunk_count,
           passage_count,
           languages,
           revision
    FROM library_stats WHERE user_id = %(uid)s
),
qlex AS (
    SELECT DISTINCT l.lexeme
    FROM stats s
    CROSS JOIN LATERAL unnest(s.languages) AS cfg
    CROSS JOIN LATERAL unnest(to_tsvector(cfg::regconfig,
                              CASE WHEN cfg = 'turkish' THEN %(q_tr)s ELSE %(q_std)s END)) AS l
),
qdf AS MATERIALIZED (
    SELECT f.lexeme, f.df, ln(1.0 + (s.n - f.df + 0.5) / (f.df + 0.5)) AS idf
    FROM (SELECT d.lexeme, d.df::float8 AS df
          FROM qlex q JOIN lexeme_df d ON d.user_id = %(uid)s AND d.lexeme = q.lexeme) f
    CROSS JOIN stats s
),
lexical AS (
    SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank
    FROM (
        SELECT sc.chunk_id, sc.score
        FROM (
            SELECT p.chunk_id,
                   sum(d.idf
                       * p.tf * (%(k1)s + 1.0)
                       / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * p.doc_len / s.avgdl))) AS score
            FROM qdf d
            JOIN chunk_lexemes p ON p.user_id = %(uid)s AND p.lexeme = d.lexeme
            CROSS JOIN stats s
            WHERE {allowed_scan}
            GROUP BY p.chunk_id
            ORDER BY score DESC, p.chunk_id
            {ranked_limit}
        ) sc
        WHERE {allowed_ranked}
        ORDER BY sc.score DESC, sc.chunk_id
        LIMIT %(depth)s
    ) scored
)
"""
