"""FastAPI dependencies: the app context and the authenticated caller."""

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alice_backend.auth import access_tokens
from alice_backend.context import AppContext
from alice_backend.errors import ApiError

bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]


def user_id_from_token(ctx: AppContext, token: str | None) -> str:
    if not token:
        raise ApiError(401, "unauthorized", "missing bearer token", _CHALLENGE)
    try:
        return access_tokens.verify(ctx.settings.jwt_secret.get_secret_value(), token)
    except access_tokens.InvalidToken as exc:
        code = "token_expired" if "expired" in str(exc) else "invalid_token"
        raise ApiError(401, code, str(exc), _CHALLENGE) from exc


async def current_user_id(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    return user_id_from_token(ctx, credentials.credentials if credentials else None)


UserId = Annotated[str, Depends(current_user_id)]


async def current_user(ctx: Ctx, user_id: UserId) -> dict[str, Any]:
    user = await ctx.users.by_id(user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "account no longer exists", _CHALLENGE)
    return user


CurrentUser = Annotated[dict[str, Any], Depends(current_user)]


async def current_admin(ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    if not user.get("is_admin"):
        raise ApiError(403, "forbidden", "administrators only")
    return user


Admin = Annotated[dict[str, Any], Depends(current_admin)]
