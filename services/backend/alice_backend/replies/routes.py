"""Reply stream (SSE), stop, regenerate and continue. Ownership comes from `replymeta:{id}`, falling back
to the orchestrator's stored reply once the metadata has expired."""

from typing import Annotated

from alice_common import reply_stream
from alice_common.events import new_id
from alice_common.ids import check_id
from fastapi import APIRouter, Depends, Header, Query, Response, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from alice_backend.app_context import AppContext
from alice_backend.auth.dependencies import Ctx, UserId, authenticate, bearer, query_token_user_id
from alice_backend.errors import ApiError, error_responses, not_found
from alice_backend.idempotency import IdempotencyKey, fingerprint
from alice_backend.replies import requesting, sse_relay
from alice_backend.schemas import ReplyAccepted, StopOut

router = APIRouter(prefix="/api/replies", tags=["replies"])


async def reply_meta(ctx: AppContext, user_id: str, reply_id: str) -> dict[str, str]:
    check_id(reply_id, "reply")
    meta = await reply_stream.reply_meta(ctx.redis, reply_id)
    if meta:
        if meta.get("user_id") != user_id:
            raise not_found("reply")
        return meta
    stored = await ctx.orchestrator.get_reply(user_id, reply_id)
    return {
        "user_id": user_id,
        "conversation_id": stored.conversation_id,
        "message_id": stored.message_id or "",
    }


@router.get(
    "/{reply_id}/stream",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events; a `status` event's data is a `ReplyStatus`",
        },
        204: {"description": "the reply has ended and `Last-Event-ID` is its last event: nothing more"},
        **error_responses(401, 404, 429, 502, 503),
    },
    response_class=StreamingResponse,
)
async def stream_reply(
    reply_id: str,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
    access_token: Annotated[
        str | None,
        Query(
            description="for EventSource clients, which cannot send headers: an access token only "
            "(short-lived); a personal API key is refused here, since URLs end up in proxy logs"
        ),
    ] = None,
) -> Response:
    if credentials:
        user_id = await authenticate(ctx, credentials.credentials)
    else:
        user_id = await query_token_user_id(ctx, access_token)
    await reply_meta(ctx, user_id, reply_id)
    if await sse_relay.finished_for(ctx.redis, reply_id, last_event_id):
        # The SSE specification's way of telling EventSource not to reconnect, ever.
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Cache-Control": "no-store"})
    slot = await ctx.stream_slots.acquire(user_id)
    events = sse_relay.relay(
        ctx.reply_hub, reply_id, sse_relay.start_after(last_event_id), ctx.settings.sse_heartbeat_s
    )
    held = ctx.stream_slots.hold(user_id, slot, events)
    return StreamingResponse(held, media_type="text/event-stream", headers=sse_relay.SSE_HEADERS)


@router.post(
    "/{reply_id}/stop",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StopOut,
    responses=error_responses(401, 404, 502, 503),
)
async def stop_reply(reply_id: str, ctx: Ctx, user_id: UserId) -> StopOut:
    await reply_meta(ctx, user_id, reply_id)
    await reply_stream.request_stop(ctx.redis, reply_id, ctx.settings.reply_meta_ttl_s)
    return StopOut(reply_id=reply_id)


async def _original_content(ctx: AppContext, user_id: str, meta: dict[str, str]) -> tuple[str, bool | None]:
    if "content" in meta:
        flag = meta.get("use_knowledge", "")
        return meta["content"], (None if flag == "" else flag == "1")
    page = await ctx.orchestrator.list_messages(user_id, meta["conversation_id"], limit=200)
    for message in page.items:
        if message.id == meta["message_id"] and message.role == "user":
            return message.content, None
    raise ApiError(409, "not_regenerable", "the original message is no longer available")


@router.post(
    "/{reply_id}/regenerate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplyAccepted,
    responses=error_responses(400, 401, 404, 409, 422, 429, 502, 503, 504),
)
async def regenerate_reply(reply_id: str, ctx: Ctx, user_id: UserId, key: IdempotencyKey) -> ReplyAccepted:
    meta = await reply_meta(ctx, user_id, reply_id)
    if meta.get("kind") == "completion":
        raise ApiError(409, "not_regenerable", "replies of /v1/chat/completions cannot be regenerated")
    content, use_knowledge = await _original_content(ctx, user_id, meta)

    async def start(ids: dict, attempt: requesting.Attempt) -> None:
        await requesting.request_reply(
            ctx,
            user_id=user_id,
            conversation_id=meta["conversation_id"],
            message_id=meta["message_id"],
            content=content,
            use_knowledge=use_knowledge,
            regenerate_of=reply_id,
            reply_id=ids["reply_id"],
            attempt=attempt,
        )

    ids, replayed = await requesting.once(
        ctx, user_id, key, fingerprint("regenerate", reply_id), {"reply_id": new_id()}, start
    )
    new_reply = ids["reply_id"]
    if not replayed:
        # The reply being replaced is no longer wanted if it is still streaming.
        await reply_stream.request_stop(ctx.redis, reply_id, ctx.settings.reply_meta_ttl_s)
    return ReplyAccepted(
        reply_id=new_reply, stream_url=requesting.stream_url(new_reply), regenerate_of=reply_id
    )


@router.post(
    "/{reply_id}/continue",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplyAccepted,
    responses=error_responses(400, 401, 404, 409, 422, 429, 502, 503, 504),
)
async def continue_reply(reply_id: str, ctx: Ctx, user_id: UserId, key: IdempotencyKey) -> ReplyAccepted:
    """The same reply goes on where its length limit cut it; the continuation streams under its
    own id, and its `done` carries the whole reply (the id of the one continued)."""
    check_id(reply_id, "reply")
    stored = await ctx.orchestrator.get_reply(user_id, reply_id)
    if stored.finish_reason != "length":
        raise ApiError(
            409, "not_continuable", "only a reply that stopped at its length limit can be continued"
        )
    meta = {"conversation_id": stored.conversation_id, "message_id": stored.message_id or ""}
    meta |= await reply_stream.reply_meta(ctx.redis, reply_id)
    content, use_knowledge = await _original_content(ctx, user_id, meta)

    async def start(ids: dict, attempt: requesting.Attempt) -> None:
        await requesting.request_reply(
            ctx,
            user_id=user_id,
            conversation_id=stored.conversation_id,
            message_id=meta["message_id"],
            content=content,
            use_knowledge=use_knowledge,
            continue_of=reply_id,
            reply_id=ids["reply_id"],
            attempt=attempt,
        )

    ids, _ = await requesting.once(
        ctx, user_id, key, fingerprint("continue", reply_id), {"reply_id": new_id()}, start
    )
    continuation = ids["reply_id"]
    return ReplyAccepted(
        reply_id=continuation, stream_url=requesting.stream_url(continuation), continue_of=reply_id
    )
