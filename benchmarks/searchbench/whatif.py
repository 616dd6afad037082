"""Suggested fixes of the search path, applied by the benchmark in its own processes only (src/ is
untouched): a patch rewrites the keyword CTEs that ``tomehub.search.repo`` composes its statements
from, may add session settings to the read pool's connections, and may need an index (created on the
benchmark's throwaway database). The same ``SearchStatements`` and the same API then run with the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request

import tomehub.search.repo as search_repo
import tomehub.store.db as store_db
from tomehub.config import SearchSettings
from tomehub.resilience.deadline import Deadline
from tomehub.search.keyword import KEYWORD_CTES
from tomehub.search.repo import DenseSpace, SearchStatements

SHIPPED = "shipped"
# Fix 3 leaves out the query lexemes found in more than this share of the user's chunks.
COMMON_SHARE = 0.20
_NO_PARALLEL = (("max_parallel_workers_per_gather", "0"),)

# BM25 with each lexeme's document frequency counted once and its IDF computed once, in float8 (the
# shipped text computes ``df + 0.5`` in numeric, per posting row). It replaces the shipped qdf and
# lexical CTEs and keeps the shipped stats and qlex ones. ``{common}`` is an extra condition on df.
_QDF_AND_LEXICAL = """qdf AS MATERIALIZED (
    SELECT q.lexeme, ln(1.0 + (s.n - d.df + 0.5) / (d.df + 0.5)) AS idf
    FROM qlex q
    CROSS JOIN stats s
    CROSS JOIN LATERAL (SELECT count(*)::float8 AS df FROM chunk_lexemes p
                        WHERE p.user_id = %(uid)s AND p.lexeme = q.lexeme) d
    WHERE d.df > 0{common}
),
lexical AS (
    SELECT chunk_id, score, row_number() OVER (ORDER BY score DESC, chunk_id) AS rank
    FROM (
        SELECT p.chunk_id,
               sum(d.idf * p.tf * (%(k1)s + 1.0)
                   / (p.tf + %(k1)s * (1.0 - %(b)s + %(b)s * p.doc_len / s.avgdl))) AS score
        FROM qdf d
        JOIN chunk_lexemes p ON p.user_id = %(uid)s AND p.lexeme = d.lexeme
        CROSS JOIN stats s
        WHERE {allowed}
        GROUP BY p.chunk_id
        ORDER BY score DESC, p.chunk_id
        LIMIT %(depth)s
    ) scored
)
"""


def _idf_once(shipped: str) -> str:
    return shipped[: shipped.index("qdf AS (")] + _QDF_AND_LEXICAL.replace("{common}", "")


def _skip_common(shipped: str) -> str:
    common = f" AND d.df <= {COMMON_SHARE} * s.n"
    return shipped[: shipped.index("qdf AS (")] + _QDF_AND_LEXICAL.replace("{common}", common)


@dataclass(frozen=True)
class Patch:
    name: str
    label: str
    rewrite: Callable[[str], str]
    # The shipped text must contain this for the patch to be meaningful (else: fixed upstream).
    requires: str
    session: tuple[tuple[str, str], ...] = ()
    ddl: tuple[str, ...] = ()
    exact: bool = True


PATCHES: dict[str, Patch] = {
    p.name: p
    for p in (
        Patch(
            name="qdf-materialized",
            label="fix 1: qdf AS MATERIALIZED",
            rewrite=lambda text: text.replace("qdf AS (", "qdf AS MATERIALIZED ("),
            requires="qdf AS (",
        ),
        Patch(
            name="idf-once",
            label="fix 2: fix 1 + float8 IDF once per lexeme + no parallel gather",
            rewrite=_idf_once,
            requires="qdf AS (",
            session=_NO_PARALLEL,
        ),
        Patch(
            name="skip-common",
            label=f"fix 3: fix 2 + skip lexemes in > {COMMON_SHARE:.0%} of chunks (approximate)",
            rewrite=_skip_common,
            requires="qdf AS (",
            session=_NO_PARALLEL,
            exact=False,
        ),
    )
}
# The reference of exact BM25 for the agreement table, and the statement the API fixes run with.
EXACT_REFERENCE = "qdf-materialized"
API_FIXES_ON = "idf-once"

# The request-path fixes, measured with fix 2's statement.
API_FIXES = "api-fixes"
API_FIXES_LABEL = "fix 2 + API: async dependencies, verified-token cache"


def label(name: str) -> str:
    if name == API_FIXES:
        return API_FIXES_LABEL
    return "shipped" if name == SHIPPED else PATCHES[name].label


def applicable(name: str) -> bool:
    """False when the shipped text no longer has what the patch fixes (fixed upstream)."""
    return name == SHIPPED or PATCHES[name].requires in KEYWORD_CTES


def session_settings(name: str) -> tuple[tuple[str, str], ...]:
    return () if name == SHIPPED else PATCHES[name].session


def ddl(name: str) -> tuple[str, ...]:
    return () if name == SHIPPED else PATCHES[name].ddl


def keyword_ctes(name: str) -> str:
    return KEYWORD_CTES if name == SHIPPED else PATCHES[name].rewrite(KEYWORD_CTES)


@contextmanager
def patched(name: str) -> Iterator[None]:
    """Makes ``tomehub.search.repo`` compose statements with the patched keyword CTEs."""
    original = search_repo.KEYWORD_CTES
    search_repo.KEYWORD_CTES = keyword_ctes(name)
    try:
        yield
    finally:
        search_repo.KEYWORD_CTES = original


def statements(name: str, space: DenseSpace) -> SearchStatements:
    with patched(name):
        return SearchStatements(space)


def install(name: str) -> None:
    """Applies a patch for the rest of this process (the API server process of a what-if run)."""
    if name == SHIPPED:
        return
    search_repo.KEYWORD_CTES = keyword_ctes(name)
    settings = session_settings(name)
    if settings:
        original = store_db._session_options
        extra = " ".join(f"-c {key}={value}" for key, value in settings)

        def with_settings(*, statement_timeout_ms: int, search: SearchSettings | None) -> str:
            options = original(statement_timeout_ms=statement_timeout_ms, search=search)
            return options if search is None else f"{options} {extra}"

        store_db._session_options = with_settings


def install_async_dependencies(app: FastAPI) -> None:
    """The smart-search route's two sync dependencies (``get_searcher``, ``get_deadline``) as async
    functions: FastAPI runs a sync dependency in the thread pool, two thread hops per request."""
    from tomehub.resources import get_deadline
    from tomehub.search.router import get_searcher
    from tomehub.search.service import Searcher

    async def searcher(request: Request) -> Searcher:
        return get_searcher(request)

    async def deadline(request: Request) -> Deadline:
        return get_deadline(request)

    app.dependency_overrides[get_searcher] = searcher
    app.dependency_overrides[get_deadline] = deadline


def install_token_cache(size: int = 10_000) -> None:
    """Remembers verified tokens until they expire: one RS256 verification per token, not per request."""
    import jwt

    from tomehub.auth.tokens import Principal, TokenVerifier

    original = TokenVerifier.verify
    cache: dict[str, tuple[Principal, float]] = {}

    def verify(self: TokenVerifier, token: str) -> Principal:
        hit = cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        principal = original(self, token)
        expires = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        if len(cache) >= size:
            cache.clear()
        cache[token] = (principal, expires)
        return principal

    TokenVerifier.verify = verify  # type: ignore[method-assign]
