"""Lexical retrieval: Okapi BM25 computed inside PostgreSQL from the per-user postings.

OR semantics (a chunk matches if it shares any lexeme with the query), IDF from the user's own
document frequencies, length normalisation against the user's average chunk length. The query is
analysed with every text-search configuration the user's library uses, so a Turkish query meets
Turkish stems and an English one English stems.
"""

from __future__ import annotations

# CTEs: stats (N, avgdl, languages), qlex (query lexemes), qdf (their document frequencies and IDF),
# lexical (top chunks by BM25, ranked). qdf is MATERIALIZED: inlined, PostgreSQL recounted a lexeme's
# postings for every posting it joined (1.4 s p50 at 10,000 chunks, timeouts at 100,000; 70 ms with it).
# Parameters: uid, q_tr (query normalised for Turkish), q_std (for every other language),
# k1, b, depth; {allowed} is replaced by the filter predicate on chunk ids (or TRUE).
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
    SELECT lexeme, df, ln(1.0 + (s.n - df + 0.5) / (df + 0.5)) AS idf
    FROM (
        SELECT q.lexeme,
               (SELECT count(*) FROM chunk_lexemes p WHERE p.user_id = %(uid)s AND p.lexeme = q.lexeme)::float8 AS df
        FROM qlex q
    ) counted
    CROSS JOIN stats s
),
lexical AS (
    SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank
    FROM (
        SELECT p.chunk_id,
               sum(d.idf
                   * p.tf * (%(k1)s + 1.0)
                   / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * p.doc_len / s.avgdl))) AS score
        FROM qdf d
        JOIN chunk_lexemes p ON p.user_id = %(uid)s AND p.lexeme = d.lexeme
        CROSS JOIN stats s
        WHERE d.df > 0 AND {allowed}
        GROUP BY p.chunk_id
        ORDER BY score DESC, p.chunk_id
        LIMIT %(depth)s
    ) scored
)
"""
