"""Suggested fixes of the request path (not of the search statements), applied by the benchmark in its
own API server process only (src/ is untouched): the smart-search route's dependencies as async
functions, and a cache of verified tokens."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request

from tomehub.resilience.deadline import Deadline

LABEL = "shipped + API: async dependencies, verified-token cache"


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
