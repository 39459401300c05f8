"""Search over the caller's messages and document chunks, answered by the dataflow."""

from typing import Annotated

from alice_common.wire import SearchResults
from fastapi import APIRouter, Query

from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import ApiError, error_responses

router = APIRouter(prefix="/api", tags=["search"])


@router.get("/search", response_model=SearchResults, responses=error_responses(401, 422, 429, 502, 503))
async def search(
    ctx: Ctx,
    user_id: UserId,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResults:
    if not q.strip():
        raise ApiError(422, "validation_error", "q must not be blank")
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:search", s.search_rate_capacity, s.search_rate_per_s, "searching too fast; retry later"
    )
    return await ctx.dataflow.search(user_id, q.strip(), limit)
