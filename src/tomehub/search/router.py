"""HTTP route of hybrid search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from tomehub.auth.deps import CurrentUser
from tomehub.library.schemas import error_responses
from tomehub.resources import RequestDeadline
from tomehub.search.schemas import TIER_HEADER, SearchOut, SmartSearchIn
from tomehub.search.service import Searcher

router = APIRouter(prefix="/api", tags=["search"])

DEGRADED_HEADER = "X-TomeHub-Degraded"


async def get_searcher(request: Request) -> Searcher:
    searcher: Searcher = request.app.state.searcher
    return searcher


SearcherDep = Annotated[Searcher, Depends(get_searcher)]


@router.post("/smart-search", response_model=SearchOut, responses=error_responses(422))
async def smart_search(
    body: SmartSearchIn, user: CurrentUser, searcher: SearcherDep, deadline: RequestDeadline, response: Response
) -> SearchOut:
    """Returns the chunks of your library that best match the query (BM25 + vectors, fused by RRF)."""
    retrieval = await searcher.search(
        user_id=user.id, query=body.query, limit=body.limit, filters=body.filters, deadline=deadline, expand=body.expand
    )
    response.headers[TIER_HEADER] = str(int(retrieval.result.tier))
    if retrieval.result.degraded:
        response.headers[DEGRADED_HEADER] = retrieval.result.degraded
    return retrieval.result
