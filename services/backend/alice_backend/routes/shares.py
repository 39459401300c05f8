"""Shared links: the owner of a conversation makes a read-only snapshot of it that anyone with the
link reads without an account, lists its links and revokes them (docs/api.md "Shared links").

The token is made here and only its SHA-256 goes to the orchestrator, which stores the snapshot;
nothing caches a look-up, so a revoked link answers 404 on every replica at once."""

import hashlib
import secrets

from alice_common import linear_re
from alice_common.ids import check_id
from alice_common.wire import SharedConversation, ShareList
from fastapi import APIRouter, Request, Response, status

from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import ApiError, error_responses
from alice_backend.routes.auth import client_address
from alice_backend.schemas import ShareCreated

router = APIRouter(prefix="/api", tags=["shared links"])

UPSTREAM = (502, 503)
TOKEN_BYTES = 32
# What `secrets.token_urlsafe(TOKEN_BYTES)` makes: anything else cannot be a link.
TOKEN_SHAPE = linear_re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def no_such_link() -> ApiError:
    return ApiError(404, "share_not_found", "this link was revoked or does not exist")


@router.post(
    "/conversations/{conversation_id}/shares",
    status_code=status.HTTP_201_CREATED,
    response_model=ShareCreated,
    responses=error_responses(401, 404, 409, 413, 429, *UPSTREAM),
)
async def create_share(conversation_id: str, ctx: Ctx, user_id: UserId) -> ShareCreated:
    """A link to the conversation as it is now; the token is in this response only."""
    conversation_id = check_id(conversation_id, "conversation")
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:share", s.share_rate_capacity, s.share_rate_per_s, "sharing too fast; retry later"
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    share = await ctx.orchestrator.create_share(user_id, conversation_id, token_sha256(token))
    return ShareCreated(**share.model_dump(), token=token, url_path=f"/s/{token}")


@router.get(
    "/conversations/{conversation_id}/shares",
    response_model=ShareList,
    responses=error_responses(401, 404, *UPSTREAM),
)
async def list_shares(conversation_id: str, ctx: Ctx, user_id: UserId) -> ShareList:
    """The conversation's live links, newest first, without their tokens."""
    return await ctx.orchestrator.list_shares(user_id, check_id(conversation_id, "conversation"))


@router.delete(
    "/shares/{share_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, *UPSTREAM),
)
async def revoke_share(share_id: str, ctx: Ctx, user_id: UserId) -> Response:
    await ctx.orchestrator.revoke_share(user_id, check_id(share_id, "share"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/shared/{token}",
    response_model=SharedConversation,
    responses=error_responses(404, 429, *UPSTREAM),
)
async def read_shared(token: str, request: Request, response: Response, ctx: Ctx) -> SharedConversation:
    """Public, no account: the snapshot behind a link."""
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:shared-ip:{client_address(request)}",
        s.shared_read_rate_per_ip_capacity,
        s.shared_read_rate_per_ip_per_s,
        "too many requests, retry later",
    )
    if not TOKEN_SHAPE.fullmatch(token):
        raise no_such_link()
    # Revoked means gone at once: no shared cache may keep a copy, nor send the link onwards.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return await ctx.orchestrator.read_shared(token_sha256(token))
