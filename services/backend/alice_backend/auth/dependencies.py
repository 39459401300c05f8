"""FastAPI dependencies: the app context and the authenticated caller."""

from typing import Annotated

from alice_common.app_context import app_context
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alice_backend.app_context import AppContext
from alice_backend.auth import access_tokens, api_keys
from alice_backend.errors import ApiError
from alice_backend.users import User

bearer = HTTPBearer(
    auto_error=False, description="Access token from /api/auth/login, or a personal API key (`sk-alice-...`)"
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


Ctx = Annotated[AppContext, Depends(app_context)]


def user_id_from_token(ctx: AppContext, token: str | None) -> str:
    if not token:
        raise ApiError(401, "unauthorized", "missing bearer token", _CHALLENGE)
    try:
        return ctx.access_tokens.verify(token)
    except access_tokens.InvalidToken as exc:
        code = "token_expired" if "expired" in str(exc) else "invalid_token"
        raise ApiError(401, code, str(exc), _CHALLENGE) from exc


async def _not_deleted(ctx: AppContext, user_id: str) -> str:
    """A deleted account's tokens and keys are refused although they would still verify."""
    if await ctx.account_deletion.is_deleted(user_id):
        raise ApiError(401, "account_deleted", "this account has been deleted", _CHALLENGE)
    return user_id


async def authenticate(ctx: AppContext, token: str | None) -> str:
    """The caller of an access token or a personal API key."""
    if token and api_keys.looks_like_key(token):
        user_id = await ctx.api_keys.user_of(token)
        if user_id is None:
            raise ApiError(401, "invalid_api_key", "invalid or revoked API key", _CHALLENGE)
        return await _not_deleted(ctx, user_id)
    return await _not_deleted(ctx, user_id_from_token(ctx, token))


async def query_token_user_id(ctx: AppContext, token: str | None) -> str:
    """The caller of a token passed in the query string (`?access_token=`): an access token only.
    URLs end up in proxy and browser logs, where a short-lived token soon stops mattering and a
    non-expiring personal API key would not."""
    if token and api_keys.looks_like_key(token):
        raise ApiError(
            401, "api_key_in_query", "send an API key in the Authorization header, not in the URL", _CHALLENGE
        )
    return await _not_deleted(ctx, user_id_from_token(ctx, token))


async def current_user_id(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    return await authenticate(ctx, credentials.credentials if credentials else None)


UserId = Annotated[str, Depends(current_user_id)]


async def session_user_id(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """Access tokens only: an API key cannot manage API keys."""
    token = credentials.credentials if credentials else None
    if token and api_keys.looks_like_key(token):
        raise ApiError(403, "session_required", "sign in to manage API keys; an API key cannot")
    return await _not_deleted(ctx, user_id_from_token(ctx, token))


SessionUserId = Annotated[str, Depends(session_user_id)]


async def current_user(ctx: Ctx, user_id: UserId) -> User:
    doc = await ctx.users.by_id(user_id)
    if doc is None:
        raise ApiError(401, "invalid_token", "account no longer exists", _CHALLENGE)
    return User.of(doc)


CurrentUser = Annotated[User, Depends(current_user)]


async def current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "administrators only")
    return user


Admin = Annotated[User, Depends(current_admin)]
