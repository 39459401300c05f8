"""Admins give an API key limits of its own for `/v1` generations (a chat UI or a batch job that
serves many people through one key) and see every key's usage (docs/api.md "Keys for services")."""

from typing import Annotated

from fastapi import APIRouter, Path

from alice_backend.auth.dependencies import Admin, Ctx
from alice_backend.errors import error_responses, not_found
from alice_backend.schemas import ApiKey, ApiKeyLimits, ApiKeyList

router = APIRouter(prefix="/api/admin", tags=["admin"])

KeyId = Annotated[str, Path(max_length=64)]
UserPath = Annotated[str, Path(max_length=64)]


@router.get("/users/{user_id}/keys", response_model=ApiKeyList, responses=error_responses(401, 403))
async def keys_of_user(user_id: UserPath, ctx: Ctx, _: Admin) -> ApiKeyList:
    return ApiKeyList(items=[ApiKey(**doc) for doc in await ctx.api_keys.of_user(user_id)])


@router.put(
    "/keys/{key_id}/limits", response_model=ApiKey, responses=error_responses(400, 401, 403, 404, 413, 422)
)
async def set_key_limits(key_id: KeyId, body: ApiKeyLimits, ctx: Ctx, _: Admin) -> ApiKey:
    doc = await ctx.api_keys.set_limits(key_id, body.model_dump())
    if doc is None:
        raise not_found("API key")
    return ApiKey(**doc)


@router.delete("/keys/{key_id}/limits", response_model=ApiKey, responses=error_responses(401, 403, 404))
async def clear_key_limits(key_id: KeyId, ctx: Ctx, _: Admin) -> ApiKey:
    doc = await ctx.api_keys.set_limits(key_id, None)
    if doc is None:
        raise not_found("API key")
    return ApiKey(**doc)
