"""Register, login, refresh (rotating), logout; `GET/PATCH/DELETE /api/me`."""

import logging
import unicodedata
from typing import Any

from alice_common.ids import check_id
from fastapi import APIRouter, Cookie, Request, Response, status

from alice_backend.app_context import AppContext
from alice_backend.auth import access_tokens
from alice_backend.auth.dependencies import Ctx, CurrentUser, SessionUserId
from alice_backend.auth.passwords import hash_password, verify_password
from alice_backend.auth.refresh_tokens import RefreshRejected
from alice_backend.emails import UnsafeEmail, canonical_email
from alice_backend.errors import ApiError, error_responses
from alice_backend.schemas import (
    AccountDeleted,
    AuthOut,
    LoginIn,
    MeDelete,
    MePatch,
    RefreshIn,
    RegisterIn,
    UserOut,
    UserSettingsPatch,
)
from alice_backend.served_models import served_models
from alice_backend.users import EmailTaken, User

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["accounts"])

REFRESH_COOKIE = "alice_refresh"
REFRESH_COOKIE_PATH = "/api/auth"


def user_out(user: User | dict[str, Any]) -> UserOut:
    """`user`: the caller, or an account document as the store returns it."""
    return UserOut.model_validate(user if isinstance(user, User) else User.of(user), from_attributes=True)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit(ctx: AppContext, key: str, capacity: float, per_s: float) -> None:
    await ctx.limiter.require(key, capacity, per_s, "too many attempts, retry later")


async def _session(ctx: AppContext, user: dict[str, Any], response: Response, refresh: str | None = None):
    refresh = refresh or await ctx.refresh_tokens.issue(user["_id"])
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        max_age=ctx.settings.refresh_token_ttl_s,
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=ctx.settings.refresh_cookie_secure,
    )
    access = access_tokens.issue(
        ctx.settings.jwt_secret.get_secret_value(), user["_id"], ctx.settings.access_token_ttl_s
    )
    return AuthOut(
        user=user_out(user),
        access_token=access,
        expires_in=ctx.settings.access_token_ttl_s,
        refresh_token=refresh,
    )


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthOut,
    responses=error_responses(400, 403, 409, 413, 422, 429),
)
async def register(body: RegisterIn, request: Request, response: Response, ctx: Ctx) -> AuthOut:
    s = ctx.settings
    if not s.password_signup_enabled:
        raise ApiError(403, "signup_closed", "sign-up with a password is closed on this site")
    await _limit(
        ctx,
        f"rl:register-ip:{client_address(request)}",
        s.register_rate_per_ip_capacity,
        s.register_rate_per_ip_per_s,
    )
    # After the per-address check, so one address spending its own allowance costs no one else.
    # The site is the deployment whose accounts live in this database.
    per_hour = s.max_registrations_per_hour
    await _limit(ctx, f"rl:register-site:{s.mongodb_database}", per_hour, per_hour / 3600)
    try:
        email_key = canonical_email(body.email)
    except UnsafeEmail as exc:
        raise ApiError(422, "invalid_email", str(exc)) from exc
    email = unicodedata.normalize("NFKC", body.email).strip()
    display_name = (body.display_name or "").strip() or email.split("@", 1)[0]
    try:
        user = await ctx.users.create(email, email_key, await hash_password(body.password), display_name)
    except EmailTaken as exc:
        raise ApiError(409, "email_taken", "an account with this email already exists") from exc
    return await _session(ctx, user, response)


@router.post("/auth/login", response_model=AuthOut, responses=error_responses(400, 401, 403, 413, 422, 429))
async def login(body: LoginIn, request: Request, response: Response, ctx: Ctx) -> AuthOut:
    s = ctx.settings
    if not s.password_login_enabled:
        raise ApiError(403, "password_login_disabled", "password sign-in is off here: use single sign-on")
    try:
        email = canonical_email(body.email)
    except UnsafeEmail:
        email = ""  # no account has such a name: the same answer as a wrong password
    await _limit(
        ctx, f"rl:login-ip:{client_address(request)}", s.login_rate_per_ip_capacity, s.login_rate_per_ip_per_s
    )
    # Failed logins per account AND client: a guesser locks out only itself, never the owner
    # signing in from elsewhere. The token is taken before the check (concurrent guesses cannot
    # overrun it) and given back when the password was right, so only failures count.
    failures = f"rl:login-fail:{email}:{client_address(request)}"
    await _limit(ctx, failures, s.login_rate_per_account_capacity, s.login_rate_per_account_per_s)
    user = await ctx.users.by_email(email) if email else None
    if not await verify_password(user["password_hash"] if user else None, body.password) or user is None:
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    if await ctx.account_deletion.finish_if_deleted(user["_id"]):
        raise ApiError(401, "invalid_credentials", "wrong email or password")
    await ctx.limiter.give_back(failures, s.login_rate_per_account_capacity, s.login_rate_per_account_per_s)
    return await _session(ctx, user, response)


@router.post("/auth/refresh", response_model=AuthOut, responses=error_responses(400, 401, 413, 422))
async def refresh(
    response: Response,
    ctx: Ctx,
    body: RefreshIn | None = None,
    alice_refresh: str | None = Cookie(default=None, include_in_schema=False),
) -> AuthOut:
    token = (body.refresh_token if body else None) or alice_refresh
    if not token:
        raise ApiError(401, "invalid_refresh_token", "missing refresh token")

    def rejected(message: str) -> ApiError:
        response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH)
        return ApiError(401, "invalid_refresh_token", message)

    # Look the account up before using the token up: if the lookup fails (a store outage), the
    # client keeps a token that still works instead of one that was rotated behind its back.
    owner = await ctx.refresh_tokens.owner(token)
    if owner is None:
        raise rejected("invalid refresh token")
    user = await ctx.users.by_id(owner)
    if user is None or await ctx.account_deletion.is_deleted(owner):
        await ctx.refresh_tokens.revoke(token)
        raise rejected("account no longer exists")
    try:
        rotated = await ctx.refresh_tokens.rotate(token)
    except RefreshRejected as exc:
        message = {
            "reused": "refresh token was already used; the session has been revoked",
            "revoked": "session has been revoked",
        }.get(exc.reason, "invalid refresh token")
        raise rejected(message) from exc
    return await _session(ctx, user, response, rotated.token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 413, 422))
async def logout(
    ctx: Ctx,
    body: RefreshIn | None = None,
    alice_refresh: str | None = Cookie(default=None, include_in_schema=False),
) -> Response:
    token = (body.refresh_token if body else None) or alice_refresh
    if token:
        await ctx.refresh_tokens.revoke(token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_COOKIE_PATH)
    return response


@router.get("/me", response_model=UserOut, responses=error_responses(401))
async def me(ctx: Ctx, user: CurrentUser) -> UserOut:
    return user_out(user)


@router.patch("/me", response_model=UserOut, responses=error_responses(400, 401, 413, 422, 502, 503))
async def update_me(body: MePatch, ctx: Ctx, user: CurrentUser) -> UserOut:
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        if not body.display_name.strip():
            raise ApiError(422, "validation_error", "display_name must not be blank")
        changes["display_name"] = body.display_name.strip()
    if body.settings is not None:
        changes |= await _settings_changes(ctx, user.id, body.settings)
    updated = await ctx.users.update(user.id, changes)
    if updated is None:
        raise ApiError(401, "invalid_token", "account no longer exists")
    account = User.of(updated)
    ctx.memory_settings.put(account.id, account.settings.memory_enabled)
    return user_out(account)


async def _settings_changes(ctx: Ctx, user_id: str, patch: UserSettingsPatch) -> dict[str, Any]:
    """The fields given; a default model must be served and a default preset visible to the user."""
    given = patch.model_dump(include=patch.model_fields_set)
    if given.get("memory_enabled") is None:
        given.pop("memory_enabled", None)
    if given.get("theme") is None:
        given.pop("theme", None)
    model = given.get("default_model")
    if model is not None and (await served_models(ctx)).get(model) is None:
        raise ApiError(422, "model_not_found", "default_model is not a served model")
    if given.get("default_preset_id") is not None:
        try:
            await ctx.orchestrator.get_preset(user_id, check_id(given["default_preset_id"], "preset"))
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise ApiError(422, "preset_not_found", "default_preset_id is not one of your presets") from exc
    return {f"settings.{name}": value for name, value in given.items()}


@router.delete(
    "/me",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AccountDeleted,
    responses=error_responses(400, 401, 403, 409, 413, 422, 429, 503),
)
async def delete_me(body: MeDelete, request: Request, ctx: Ctx, user_id: SessionUserId) -> AccountDeleted:
    """Deletes the account and everything of it: signed out everywhere at once, the rest purged
    by the services within moments (docs/decisions/0059-delete-my-data.md)."""
    s = ctx.settings
    address = client_address(request)
    await _limit(ctx, f"rl:login-ip:{address}", s.login_rate_per_ip_capacity, s.login_rate_per_ip_per_s)
    # As at login: only wrong passwords count, per account and client.
    failures = f"rl:delete-fail:{user_id}:{address}"
    await _limit(ctx, failures, s.login_rate_per_account_capacity, s.login_rate_per_account_per_s)
    user = await ctx.users.by_id(user_id)
    if user is None:
        raise ApiError(401, "invalid_token", "account no longer exists")
    # Wrong password is 403, not 401: the session is valid, and a 401 would sign the client out.
    if user.get("password_hash") and not await verify_password(user["password_hash"], body.password):
        raise ApiError(403, "wrong_password", "wrong password")
    await ctx.limiter.give_back(failures, s.login_rate_per_account_capacity, s.login_rate_per_account_per_s)
    if user.get("is_admin") and len(await ctx.users.admins()) <= 1:
        raise ApiError(
            409,
            "last_admin",
            "you are the only administrator: make another account an administrator first "
            "(python -m alice_backend admin grant EMAIL)",
        )
    if not await ctx.account_deletion.delete(user_id):
        log.warning("account %s deleted; its purge waits for Kafka", user_id)
    return AccountDeleted(
        message="Your account is deleted and you are signed out. Everything else of it is being "
        "erased and will be gone within minutes."
    )
