"""API keys with limits of their own (set by an admin) and usage per key, for `/v1`.

A key with `limits` is its own limit subject, `key:{key_id}`: its own send bucket (requests per
minute) and generation slots, in place of its owner's. The orchestrator frees the owner's slots
only, so a key's slot counts while its reply has not ended: `tidy` drops the slots of ended (or
expired) replies before each admission and each look at the waiting line.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from alice_common.reply_stream import DONE, TERMINAL_EVENTS, ReplyStream, active_key, reply_key
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials

from alice_backend.app_context import AppContext
from alice_backend.auth import api_keys
from alice_backend.auth.api_keys import KeyHolder
from alice_backend.auth.dependencies import Ctx, bearer
from alice_backend.replies.requesting import LimitSubject, user_subject

log = logging.getLogger(__name__)

KEY_SUBJECT_PREFIX = "key:"
# Usage recordings still running, referenced until they ran.
_recording: set[asyncio.Task] = set()


async def caller_key(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> KeyHolder | None:
    """The API key the request came with (None for an access token); authentication, which runs
    first, has looked it up already, so this is a memo hit."""
    token = credentials.credentials if credentials else None
    if token and api_keys.looks_like_key(token):
        return await ctx.api_keys.holder_of(token)
    return None


CallerKey = Annotated[KeyHolder | None, Depends(caller_key)]


def subject_of(ctx: AppContext, user_id: str, holder: KeyHolder | None) -> LimitSubject:
    if holder is None or not holder.limits:
        return user_subject(ctx, user_id)
    per_minute = int(holder.limits["requests_per_minute"])
    return LimitSubject(
        f"{KEY_SUBJECT_PREFIX}{holder.key_id}",
        capacity=per_minute,
        per_s=per_minute / 60,
        max_active=int(holder.limits["max_concurrent_generations"]),
    )


async def tidy(ctx: AppContext, subject: LimitSubject) -> None:
    """Frees a key subject's slots whose replies ended (a user's are freed by the orchestrator)."""
    if not subject.id.startswith(KEY_SUBJECT_PREFIX):
        return
    slots = active_key(subject.id)
    for reply_id in await ctx.redis.zrange(slots, 0, -1):
        last = await ReplyStream(ctx.redis, reply_id).last_entry()
        if last is None or last[1] in TERMINAL_EVENTS:
            await ctx.redis.zrem(slots, reply_id)


async def record_request(ctx: AppContext, holder: KeyHolder | None) -> None:
    if holder is not None:
        await _quietly(ctx.api_keys.record_usage(holder.key_id, 1, 0, 0))


async def record_tokens(ctx: AppContext, holder: KeyHolder | None, usage: dict) -> None:
    if holder is not None:
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        await _quietly(ctx.api_keys.record_usage(holder.key_id, 0, prompt, completion))


def counted(
    ctx: AppContext, holder: KeyHolder | None, reply_id: str, chunks: AsyncIterator[str]
) -> AsyncIterator[str]:
    """A streamed reply whose tokens are added to its key's usage once it ended."""
    if holder is None:
        return chunks

    async def relayed() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            task = asyncio.create_task(_record_ended(ctx, holder, reply_id))
            _recording.add(task)
            task.add_done_callback(_recording.discard)

    return relayed()


async def _record_ended(ctx: AppContext, holder: KeyHolder, reply_id: str) -> None:
    """The tokens of the reply's `done` (a stream closed early has none yet: its reply is
    stopped, so `done` follows within seconds)."""
    for _ in range(20):
        for _id, fields in await ctx.redis.xrevrange(reply_key(reply_id), count=3):
            if fields.get("event") == DONE:
                message = json.loads(fields.get("data") or "{}").get("message") or {}
                await record_tokens(ctx, holder, message.get("usage") or {})
                return
            if fields.get("event") in TERMINAL_EVENTS:
                return
        await asyncio.sleep(0.5)


async def _quietly(action) -> None:
    try:
        await action
    except Exception as exc:  # usage is a hint for the owner; a lost count must not fail a reply
        log.warning("key usage not recorded: %r", exc)
