"""Personal API keys: create (the secret is in this one response), list (prefixes only), revoke.
Managed with a signed-in session only; see `auth/api_keys.py`."""

from fastapi import APIRouter, Response, status

from alice_backend.auth.api_keys import TooManyKeys
from alice_backend.auth.dependencies import Ctx, SessionUserId
from alice_backend.errors import ApiError, error_responses, not_found
from alice_backend.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyList

router = APIRouter(prefix="/api/keys", tags=["api keys"])


@router.get("", response_model=ApiKeyList, responses=error_responses(401, 403))
async def list_keys(ctx: Ctx, user_id: SessionUserId) -> ApiKeyList:
    return ApiKeyList(items=[ApiKey(**doc) for doc in await ctx.api_keys.of_user(user_id)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(400, 401, 403, 409, 413, 422),
)
async def create_key(body: ApiKeyCreate, ctx: Ctx, user_id: SessionUserId) -> ApiKeyCreated:
    name = body.name.strip()
    if not name:
        raise ApiError(422, "validation_error", "name must not be blank")
    try:
        doc, secret = await ctx.api_keys.create(user_id, name)
    except TooManyKeys as exc:
        raise ApiError(
            409, "too_many_keys", f"at most {exc.args[0]} API keys per account; revoke one first"
        ) from exc
    return ApiKeyCreated(key=ApiKey(**doc), secret=secret)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404))
async def revoke_key(key_id: str, ctx: Ctx, user_id: SessionUserId) -> Response:
    if len(key_id) > 64 or not await ctx.api_keys.revoke(user_id, key_id):
        raise not_found("API key")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
