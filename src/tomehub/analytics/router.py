"""HTTP routes of the analytics: concordance and term distribution."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from tomehub.analytics import service
from tomehub.analytics.schemas import ConcordanceOut, DistributionOut
from tomehub.auth.deps import CurrentUser
from tomehub.library.schemas import error_responses
from tomehub.resources import AppResources, RequestDeadline

router = APIRouter(prefix="/api/analytics", tags=["analytics"])

# The service checks the term against the configured limit with a message a person can act on;
# this bound only keeps absurd input out of the parser.
_TERM_QUERY = Query(
    max_length=1_000,
    description="One word, stemmed in each item's language: 'kitap' also finds 'kitaplarımızdan'.",
)


@router.get("/concordance", response_model=ConcordanceOut, responses=error_responses(404, 422))
async def concordance(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    term: Annotated[str, _TERM_QUERY],
    item_id: Annotated[UUID | None, Query(description="Only this item's lines (404 if it is not yours).")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Lines per page (default 50, at most 200).")] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> ConcordanceOut:
    """Lists every occurrence of a word with the text around it, by item title and reading order."""
    return await service.concordance(
        db=res.db,
        settings=res.settings.analytics,
        user_id=user.id,
        term=term,
        item_id=item_id,
        limit=limit,
        cursor=cursor,
        deadline=deadline,
    )


@router.get("/distribution", response_model=DistributionOut, responses=error_responses(404, 422))
async def distribution(
    user: CurrentUser,
    res: AppResources,
    deadline: RequestDeadline,
    term: Annotated[str, _TERM_QUERY],
    item_id: Annotated[UUID | None, Query(description="Only this item (404 if it is not yours).")] = None,
) -> DistributionOut:
    """Counts a word's occurrences per item and per page/chapter of each, most occurrences first."""
    return await service.distribution(
        db=res.db, settings=res.settings.analytics, user_id=user.id, term=term, item_id=item_id, deadline=deadline
    )
