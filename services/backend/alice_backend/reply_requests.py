"""Requesting a reply (a message's, a regeneration's or a `/v1` completion's): the user's send
bucket and generation slot, reply metadata, `queued` status, then `ChatRequested` to Kafka."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from alice_common.errors import DEPENDENCY_RETRY_AFTER_S
from alice_common.events import ChatRequested, CompletionRequest, Topics, new_id
from alice_common.kafka import publish
from alice_common.reply_stream import ReplyRecords, ReplyStream

from alice_backend.app_context import AppContext
from alice_backend.errors import ApiError
from alice_backend.internal_client import seg

log = logging.getLogger(__name__)

REPLY_STREAM_TTL_S = 3600


def stream_url(reply_id: str) -> str:
    return f"/api/replies/{reply_id}/stream"


async def ensure_conversation(ctx: AppContext, user_id: str, conversation_id: str) -> None:
    if ctx.conversation_owners.owned_by(conversation_id, user_id):
        return
    await ctx.orchestrator.call("GET", f"/internal/conversations/{seg(conversation_id)}", user_id=user_id)
    ctx.conversation_owners.remember(conversation_id, user_id)


async def memory_enabled(ctx: AppContext, user_id: str) -> bool:
    cached = ctx.memory_settings.get(user_id)
    if cached is not None:
        return cached
    user = await ctx.users.by_id(user_id)
    enabled = bool(((user or {}).get("settings") or {}).get("memory_enabled", True))
    ctx.memory_settings.put(user_id, enabled)
    return enabled


async def request_reply(
    ctx: AppContext,
    *,
    user_id: str,
    conversation_id: str,
    message_id: str,
    content: str,
    use_knowledge: bool | None,
    regenerate_of: str | None = None,
) -> str:
    """Admits and publishes one generation; returns its reply id."""
    reply_id = new_id()
    meta = {
        "user_id": user_id,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "content": content,
        "use_knowledge": "" if use_knowledge is None else str(int(use_knowledge)),
    }
    await _admit(ctx, user_id, reply_id, meta)

    async def event() -> ChatRequested:
        return ChatRequested(
            conversation_id=conversation_id,
            user_id=user_id,
            message_id=message_id,
            reply_id=reply_id,
            content=content,
            use_knowledge=use_knowledge,
            use_memory=await memory_enabled(ctx, user_id),
            regenerate_of=regenerate_of,
        )

    await _publish(ctx, user_id, reply_id, event)
    return reply_id


async def request_completion(ctx: AppContext, *, user_id: str, completion: CompletionRequest) -> str:
    """An OpenAI-compatible request: same limits and path as a message, but no conversation;
    the reply id stands in as the Kafka key (nothing to order it with)."""
    reply_id = new_id()
    meta = {"user_id": user_id, "conversation_id": "", "message_id": "", "kind": "completion"}
    await _admit(ctx, user_id, reply_id, meta)

    async def event() -> ChatRequested:
        return ChatRequested(
            conversation_id=reply_id,
            user_id=user_id,
            message_id=new_id(),
            reply_id=reply_id,
            content="",
            use_memory=False,
            completion=completion,
        )

    await _publish(ctx, user_id, reply_id, event)
    return reply_id


async def _admit(ctx: AppContext, user_id: str, reply_id: str, meta: dict[str, str]) -> None:
    """The user's send bucket and concurrency cap; on success `replymeta` and `queued` are written."""
    s = ctx.settings
    records = ReplyRecords(
        meta=meta,
        meta_ttl_s=s.reply_meta_ttl_s,
        # The orchestrator shortens this once the reply ends; this bounds an abandoned stream.
        stream_ttl_s=max(REPLY_STREAM_TTL_S, s.active_generation_ttl_s),
    )
    decision = await ctx.limiter.start_generation(
        user_id, reply_id, s.send_rate_capacity, s.send_rate_per_s, s.max_concurrent_generations,
        s.active_generation_ttl_s, records,
    )  # fmt: skip
    if not decision.allowed:
        message = (
            "too many replies in progress; wait for one to finish"
            if decision.reason == "concurrency"
            else "sending too fast; retry later"
        )
        raise ApiError(429, "rate_limited", message, {"Retry-After": str(decision.retry_after_s)})


async def _publish(
    ctx: AppContext, user_id: str, reply_id: str, event: Callable[[], Awaitable[ChatRequested]]
) -> None:
    """Builds and publishes an admitted request. The user holds a generation slot from admission
    on, so any failure (a store read for the event, Kafka) gives it back at once."""
    try:
        request = await event()
        # Bounded: with Kafka unreachable the producer would wait for metadata for a long time.
        await asyncio.wait_for(
            publish(ctx.producer, ctx.settings, Topics.CHAT_REQUESTS, request, key=request.conversation_id),
            ctx.settings.publish_timeout_s,
        )
    except Exception as exc:  # nothing was accepted: release the slot, end the reply's stream
        log.warning("accepting ChatRequested failed: %r", exc)
        await ReplyStream(ctx.redis, reply_id).fail("not_accepted", "not accepted", None, user_id)
        raise ApiError(
            503,
            "upstream_unavailable",
            "the message could not be queued; retry",
            {"Retry-After": str(DEPENDENCY_RETRY_AFTER_S)},
        ) from exc


def now() -> datetime:
    return datetime.now(UTC)
