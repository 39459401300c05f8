"""Single sign-on (auth/oidc.py) and the sign-in options the login page offers.

The browser navigates through these routes, so failures are redirects back to the app with
`?sso_error=CODE` (the login page explains it) rather than JSON errors.
"""

import hmac
import logging
import unicodedata
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import RedirectResponse

from alice_backend.app_context import AppContext
from alice_backend.auth.dependencies import Ctx
from alice_backend.auth.oidc import Identity, OidcClient, OidcError
from alice_backend.emails import UnsafeEmail, canonical_email
from alice_backend.errors import ApiError, error_responses
from alice_backend.routes.auth import _limit, _session, client_address
from alice_backend.schemas import AuthConfig, SsoOption
from alice_backend.users import EmailTaken

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["accounts"])

# The app's address after a finished sign-in; it renews its session from the refresh cookie.
SIGNED_IN_QUERY = "signed_in=sso"
# The attempt's state, also kept by the browser that started it: a callback opened in another
# browser (someone else's code and state, sent to a victim) signs no one in. Lax, so that the
# provider's redirect back, a top-level navigation from another site, carries it.
STATE_COOKIE = "alice_oidc_state"
STATE_COOKIE_PATH = "/api/auth/oidc"


@router.get("/config", response_model=AuthConfig)
async def auth_config(ctx: Ctx) -> AuthConfig:
    """How one may sign in here: passwords (sign-in, sign-up) and single sign-on, if configured."""
    s = ctx.settings
    return AuthConfig(
        password_login=s.password_login_enabled,
        password_signup=s.password_signup_enabled,
        sso=SsoOption(name=s.oidc_display_name) if s.oidc_enabled else None,
    )


def _oidc(ctx: AppContext) -> OidcClient:
    if ctx.oidc is None:
        raise ApiError(404, "sso_not_configured", "single sign-on is not configured")
    return ctx.oidc


def _back_to_app(ctx: AppContext, query: str) -> RedirectResponse:
    return RedirectResponse(ctx.settings.public_url.rstrip("/") + "/?" + query, status_code=303)


async def _limit_address(ctx: AppContext, request: Request) -> None:
    s = ctx.settings
    await _limit(
        ctx, f"rl:login-ip:{client_address(request)}", s.login_rate_per_ip_capacity, s.login_rate_per_ip_per_s
    )


REDIRECTS = {"status_code": 303, "response_class": RedirectResponse}


@router.get("/oidc/login", **REDIRECTS, responses=error_responses(404, 429))
async def oidc_login(request: Request, ctx: Ctx) -> Response:
    """Sends the browser to the provider's sign-in page."""
    oidc = _oidc(ctx)
    await _limit_address(ctx, request)
    try:
        url, state = await oidc.start()
    except OidcError as exc:
        log.warning("single sign-on cannot start: %s", exc)
        return _back_to_app(ctx, urlencode({"sso_error": exc.code}))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=ctx.settings.oidc_login_ttl_s,
        path=STATE_COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.refresh_cookie_secure,
    )
    return response


@router.get("/oidc/callback", **REDIRECTS, responses=error_responses(404, 429))
async def oidc_callback(
    request: Request,
    ctx: Ctx,
    state: str = Query(default="", max_length=200),
    code: str = Query(default="", max_length=4096),
    error: str = Query(default="", max_length=200),
    alice_oidc_state: str | None = Cookie(default=None, include_in_schema=False),
) -> Response:
    """Where the provider sends the browser back: signs the user in with a refresh cookie."""
    oidc = _oidc(ctx)
    await _limit_address(ctx, request)
    started_here = bool(state and alice_oidc_state) and hmac.compare_digest(state, alice_oidc_state or "")
    if error and started_here:
        # The user cancelled at the provider, or it refused them: the attempt is over.
        await oidc.forget(state)
    if error or not code or not started_here:
        response = _back_to_app(ctx, urlencode({"sso_error": "cancelled" if error else "invalid_state"}))
    else:
        try:
            user = await _account_of(ctx, await oidc.finish(state, code))
        except OidcError as exc:
            log.info("single sign-on refused: %s (%s)", exc.code, exc)
            response = _back_to_app(ctx, urlencode({"sso_error": exc.code}))
        else:
            response = _back_to_app(ctx, SIGNED_IN_QUERY)
            await _session(ctx, user, response)
    if started_here:
        response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH)
    return response


async def _account_of(ctx: AppContext, identity: Identity) -> dict:
    """The account of a verified e-mail address; a new one if sign-up is open."""
    # An unverified address proves nothing: linking on it would hand over whoever's account it names.
    if not identity.email_verified:
        raise OidcError("email_unverified", "the provider has not verified this e-mail address")
    try:
        email_key = canonical_email(identity.email)
    except UnsafeEmail as exc:
        raise OidcError("invalid_email", str(exc)) from exc
    user = await ctx.users.by_email(email_key)
    if user is None:
        if not ctx.settings.oidc_signup_enabled:
            raise OidcError("signup_closed", "no account has this e-mail address and sign-up is closed")
        email = unicodedata.normalize("NFKC", identity.email).strip()
        name = identity.name.strip()[:100] or email.split("@", 1)[0]
        try:
            user = await ctx.users.create(email, email_key, None, name)
        except EmailTaken:
            user = await ctx.users.by_email(email_key)  # created by a concurrent sign-in
        if user is None:
            raise OidcError("account_unavailable", "the account could not be created")
    if await ctx.account_deletion.finish_if_deleted(user["_id"]):
        raise OidcError("account_deleted", "this account has been deleted")
    return user


@router.get("/oidc/logout", **REDIRECTS, responses=error_responses(404))
async def oidc_logout(ctx: Ctx) -> Response:
    """After `POST /api/auth/logout`: signs the browser out at the provider too, when it offers that."""
    oidc = _oidc(ctx)
    try:
        url = await oidc.end_session_url()
    except OidcError:
        url = None
    return RedirectResponse(url or ctx.settings.public_url.rstrip("/") + "/", status_code=303)
