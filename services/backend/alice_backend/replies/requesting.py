"""Requesting a reply (a message's, a regeneration's, a continuation's or a `/v1` completion's): the
user's send bucket and generation slot, reply metadata, `queued` status, then `ChatRequested` to Kafka."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from alice_common import reply_stream, topics
from alice_common.errors import DEPENDENCY_RETRY_AFTER_S
from alice_common.events import AttachedFile, ChatRequested, CompletionRequest, new_id
from alice_common.kafka import enqueue
from alice_common.reply_stream import ReplyRecords, ReplyStream

from alice_backend.app_context import AppContext
from alice_backend.errors import ApiError
from alice_backend.idempotency import HEADER

log = logging.getLogger(__name__)

REPLY_STREAM_TTL_S = 3600


def stream_url(reply_id: str) -> str:
    return f"/api/replies/{reply_id}/stream"


async def ensure_conversation(ctx: AppContext, user_id: str, conversation_id: str) -> None:
    if ctx.conversation_owners.owned_by(conversation_id, user_id):
        return
    await ctx.orchestrator.get_conversation(user_id, conversation_id)
    ctx.conversation_owners.remember(conversation_id, user_id)


async def memory_enabled(ctx: AppContext, user_id: str) -> bool:
    cached = ctx.memory_settings.get(user_id)
    if cached is not None:
        return cached
    user = await ctx.users.by_id(user_id)
    enabled = bool(((user or {}).get("settings") or {}).get("memory_enabled", True))
    ctx.memory_settings.put(user_id, enabled)
    return enabled


@dataclass(frozen=True)
class Attempt:
    """How one attempt at a request may treat its ids.

    `resumed`: the ids are an earlier attempt's whose outcome is unknown, so the reply may already
    be admitted and its request already in Kafka. `abandon()`: called when nothing could be
    published; True when the reply may then be ended as "not accepted" (never for resumed ids:
    the earlier attempt's record may still arrive)."""

    resumed: bool = False
    abandon: Callable[[], Awaitable[bool]] | None = None
    # Kafka acknowledged after the answer was given up on: the retry can return the 202 at once.
    acknowledged_late: Callable[[], Awaitable[None]] | None = None

    async def may_abandon(self) -> bool:
        if self.resumed:
            return False
        if self.abandon is None:
            return True
        try:
            return await self.abandon()
        except Exception as exc:  # the key's record stays: its retry resumes these ids
            log.warning("idempotency record not forgotten: %r", exc)
            return False


FIRST_ATTEMPT = Attempt()


@dataclass(frozen=True)
class LimitSubject:
    """Whose send bucket and generation slots a request uses: its user's (`id` = the user id), or
    an API key's with limits of its own (`openai_compat/key_limits.py`)."""

    id: str
    capacity: float
    per_s: float
    max_active: int


def user_subject(ctx: AppContext, user_id: str) -> LimitSubject:
    s = ctx.settings
    return LimitSubject(user_id, s.send_rate_capacity, s.send_rate_per_s, s.max_concurrent_generations)


async def request_reply(
    ctx: AppContext,
    *,
    user_id: str,
    conversation_id: str,
    message_id: str,
    content: str,
    use_knowledge: bool | None,
    regenerate_of: str | None = None,
    continue_of: str | None = None,
    reply_id: str | None = None,
    attempt: Attempt = FIRST_ATTEMPT,
    attachments: list[AttachedFile] | None = None,
    parent_id: str | None = None,
    edit_of: str | None = None,
) -> str:
    """Admits and publishes one generation; returns its reply id."""
    reply_id = reply_id or new_id()
    meta = {
        "user_id": user_id,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "content": content,
        "use_knowledge": "" if use_knowledge is None else str(int(use_knowledge)),
    }
    await _admit(ctx, user_id, reply_id, meta, attempt)

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
            continue_of=continue_of,
            attachments=attachments or [],
            parent_id=parent_id,
            edit_of=edit_of,
        )

    await _publish(ctx, user_id, reply_id, event, attempt)
    return reply_id


async def request_completion(
    ctx: AppContext,
    *,
    user_id: str,
    completion: CompletionRequest,
    model: str | None = None,
    reply_id: str | None = None,
    message_id: str | None = None,
    attempt: Attempt = FIRST_ATTEMPT,
    subject: LimitSubject | None = None,
) -> str:
    """An OpenAI-compatible request: same limits and path as a message (or its key's own), but no
    conversation; the reply id stands in as the Kafka key (nothing to order it with)."""
    reply_id = reply_id or new_id()
    message_id = message_id or new_id()
    meta = {"user_id": user_id, "conversation_id": "", "message_id": "", "kind": "completion"}
    await _admit(ctx, user_id, reply_id, meta, attempt, subject)

    async def event() -> ChatRequested:
        return ChatRequested(
            conversation_id=reply_id,
            user_id=user_id,
            message_id=message_id,
            reply_id=reply_id,
            content="",
            use_memory=False,
            completion=completion,
            model=model,
        )

    await _publish(ctx, user_id, reply_id, event, attempt)
    return reply_id


async def once(
    ctx: AppContext,
    user_id: str,
    key: str | None,
    fp: str,
    fresh_ids: dict,
    start: Callable[[dict, Attempt], Awaitable[None]],
) -> tuple[dict, bool]:
    """Runs `start(ids, attempt)` so that one `Idempotency-Key` is accepted at most once.

    Returns the ids the request was accepted under and whether they are an earlier attempt's
    answer replayed (nothing was started now). Without a key, every call is a new request."""
    if key is None:
        await start(fresh_ids, FIRST_ATTEMPT)
        return fresh_ids, False
    store = ctx.idempotency
    claim = await store.claim(user_id, key, fp, fresh_ids)
    if claim.outcome == "done":
        return claim.ids, True
    attempt = Attempt(
        resumed=not claim.fresh,
        abandon=lambda: store.forget(claim),
        acknowledged_late=lambda: store.accept(claim),
    )
    try:
        await start(claim.ids, attempt)
    except BaseException:
        # Whatever happened, the ids stay for the next retry (a fresh claim whose request was
        # certainly not published is forgotten by `abandon`, so the retry starts afresh).
        await _quietly(store.release(claim))
        raise
    # Accepted: should Redis fail now, a retry publishes the same ids again, which is harmless.
    await _quietly(store.accept(claim))
    return claim.ids, False


async def _quietly(action: Awaitable[object]) -> None:
    try:
        await action
    except Exception as exc:  # Redis failed: a lease lapses, a slot expires by itself
        log.warning("not recorded: %r", exc)


class NotAccepted(ApiError):
    """Nothing was published: a retry (with the same key, or without one) is a first send."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "upstream_unavailable",
            "the message could not be queued; nothing was accepted; retry",
            {"Retry-After": str(DEPENDENCY_RETRY_AFTER_S)},
        )


class OutcomeUnknown(ApiError):
    """The record was handed to Kafka but not acknowledged in time: it may still arrive."""

    def __init__(self) -> None:
        super().__init__(
            504,
            "outcome_unknown",
            "Kafka did not confirm the request in time; it may still be accepted. Retry with the"
            f" same {HEADER} to settle it (without one, check the conversation before sending again)",
            {"Retry-After": str(DEPENDENCY_RETRY_AFTER_S)},
        )


class AtCapacity(ApiError):
    """Every generation slot is taken (the send rate would allow it): a `/v1` waiter looks again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            "too many replies in progress; wait for one to finish",
            {"Retry-After": str(retry_after_s)},
        )


async def _admit(
    ctx: AppContext,
    user_id: str,
    reply_id: str,
    meta: dict[str, str],
    attempt: Attempt,
    subject: LimitSubject | None = None,
) -> None:
    """The user's (or `subject`'s) send bucket and concurrency cap; on success `replymeta` and
    `queued` are written. A resumed reply that was admitted already (its `replymeta` exists) is
    not admitted twice."""
    if attempt.resumed and await reply_stream.reply_meta(ctx.redis, reply_id):
        return
    s = ctx.settings
    records = ReplyRecords(
        meta=meta,
        meta_ttl_s=s.reply_meta_ttl_s,
        # The orchestrator shortens this once the reply ends; this bounds an abandoned stream.
        stream_ttl_s=max(REPLY_STREAM_TTL_S, s.active_generation_ttl_s),
    )
    subject = subject or user_subject(ctx, user_id)
    decision = await ctx.limiter.start_generation(
        subject.id, reply_id, subject.capacity, subject.per_s, subject.max_active,
        s.active_generation_ttl_s, records,
    )  # fmt: skip
    if not decision.allowed:
        await attempt.may_abandon()  # nothing was admitted: a retry may start afresh
        if decision.reason == "concurrency":
            raise AtCapacity(decision.retry_after_s)
        message = "sending too fast; retry later"
        raise ApiError(429, "rate_limited", message, {"Retry-After": str(decision.retry_after_s)})


async def _publish(
    ctx: AppContext,
    user_id: str,
    reply_id: str,
    event: Callable[[], Awaitable[ChatRequested]],
    attempt: Attempt,
) -> None:
    """Builds and publishes an admitted request, within `PUBLISH_TIMEOUT_S`.

    Until the producer has queued the record, a failure means nothing was accepted: the user's
    generation slot is given back and the stream ends. Once queued, the record may reach Kafka
    however long the broker stalls, so a missing acknowledgement is `OutcomeUnknown`: the reply
    stays `queued` (the orchestrator answers it if it arrives) and the slot stays taken (the
    orchestrator frees it, or it lapses after `ACTIVE_GENERATION_TTL_S`)."""
    deadline = asyncio.get_running_loop().time() + ctx.settings.publish_timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            request = await event()
            # Bounded: with Kafka unreachable the producer would wait for metadata for a long time.
            acknowledged = await enqueue(ctx.producer, ctx.settings, topics.CHAT_REQUESTS, request)
    except Exception as exc:
        log.warning("ChatRequested not queued: %r", exc)
        if await attempt.may_abandon():
            stream = ReplyStream(ctx.redis, reply_id)
            await _quietly(stream.fail("not_accepted", "not accepted", None, user_id))
        raise NotAccepted() from exc
    # Waiting must not cancel the acknowledgement's future: the record is on its way regardless.
    await asyncio.wait({acknowledged}, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    if acknowledged.done() and acknowledged.exception() is None:
        return
    cause = acknowledged.exception() if acknowledged.done() else "no acknowledgement in time"
    log.warning("ChatRequested queued but not acknowledged: %r", cause, extra={"reply_id": reply_id})
    _follow_up(acknowledged, ctx, user_id, reply_id, attempt)
    raise OutcomeUnknown()


# Follow-ups of unconfirmed publishes, referenced until they ran.
_late: set[asyncio.Task] = set()


def _follow_up(
    acknowledged: asyncio.Future, ctx: AppContext, user_id: str, reply_id: str, attempt: Attempt
) -> None:
    """Whatever the producer finally says about a record answered `outcome_unknown`: acknowledged,
    the key is marked accepted (its retry gets the 202 without publishing again); failed (aiokafka
    gave up, `request_timeout_ms`), the user's generation slot is freed, since the record most
    likely never arrives. The reply stays `queued`: the failure does not prove it was not written,
    and a retry with the key publishes the same ids again."""

    async def settle() -> None:
        try:
            await acknowledged
        except Exception as exc:
            log.info("an unconfirmed ChatRequested failed: %r", exc, extra={"reply_id": reply_id})
            await _quietly(reply_stream.release_slot(ctx.redis, user_id, reply_id))
            return
        if attempt.acknowledged_late is not None:
            await _quietly(attempt.acknowledged_late())

    task = asyncio.get_running_loop().create_task(settle())
    _late.add(task)
    task.add_done_callback(_late.discard)


def now() -> datetime:
    return datetime.now(UTC)
