"""Admitting a `/v1` completion: at once when a generation slot is free, else after waiting its
turn in the line (`waiting.py`). A streaming request that has to wait gets its response at once
and `: keep-alive` comments until its turn; a non-streaming one simply waits."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from alice_common.reply_stream import request_stop

from alice_backend.app_context import AppContext
from alice_backend.errors import ApiError
from alice_backend.openai_compat import key_limits
from alice_backend.openai_compat.errors import OpenAIError, error_body
from alice_backend.openai_compat.waiting import (
    Limits,
    LineFull,
    Ticket,
    WaitedTooLong,
    WaitingLine,
)
from alice_backend.replies.requesting import AtCapacity, LimitSubject

log = logging.getLogger(__name__)

# Starts the request (admission, Kafka) and returns its reply id; `AtCapacity` when a slot was
# taken meanwhile.
Accept = Callable[[], Awaitable[str]]

# Admissions that outlived the stream that waited for them, referenced until they ran.
_orphans: set[asyncio.Task] = set()


def limits_of(ctx: AppContext, subject: LimitSubject) -> Limits:
    s = ctx.settings
    return Limits(
        max_active=subject.max_active,
        active_ttl_s=s.active_generation_ttl_s,
        max_waiting=s.generation_queue_length,
        max_wait_s=s.generation_queue_wait_s,
    )


def rate_limit_exceeded(message: str, retry_after_s: int) -> OpenAIError:
    return OpenAIError(429, "rate_limit_exceeded", message, headers={"Retry-After": str(retry_after_s)})


def _line_full(exc: LineFull) -> OpenAIError:
    if isinstance(exc, WaitedTooLong):
        message = "no generation slot became free in time; retry later"
    else:
        message = "too many requests are waiting for a generation slot; retry later"
    return rate_limit_exceeded(message, exc.retry_after_s)


class Waiting:
    """A request that must wait for its turn: `admitted()` waits and starts it."""

    def __init__(self, ctx: AppContext, subject: LimitSubject, ticket: Ticket, accept: Accept):
        self.ctx = ctx
        self.subject = subject
        self.ticket = ticket
        self.accept = accept

    async def _tidy(self) -> None:
        await key_limits.tidy(self.ctx, self.subject)

    async def admitted(self, gone: Callable[[], Awaitable[bool]] | None = None) -> str:
        """The reply id once admitted; `OpenAIError` 429 past the bound, `ClientGone`."""
        admitted = False
        try:
            while True:
                try:
                    await self.ticket.wait_turn(gone, self._tidy)
                except LineFull as exc:
                    raise _line_full(exc) from exc
                # Once started, an admission runs to its end even if the client leaves: cut
                # short, it could hold a slot nobody frees. Its reply is then stopped.
                started = asyncio.ensure_future(self.accept())
                try:
                    reply_id = await asyncio.shield(started)
                except asyncio.CancelledError:
                    started.add_done_callback(lambda task: _stop_orphan(self.ctx, task))
                    raise
                except AtCapacity:
                    continue  # a request that does not wait took the slot: look again
                admitted = True
                return reply_id
        finally:
            await _quietly(self.ticket.leave(admitted))


async def admit(ctx: AppContext, subject: LimitSubject, reply_id: str, accept: Accept) -> str | Waiting:
    """The reply id when admitted at once, a `Waiting` when the request must wait its turn,
    or `OpenAIError` 429 `rate_limit_exceeded` when the line is full. `reply_id`: the id `accept`
    admits the reply under (its ticket)."""
    await key_limits.tidy(ctx, subject)
    try:
        ticket = await WaitingLine(ctx.redis).join(subject.id, limits_of(ctx, subject), reply_id)
    except LineFull as exc:
        raise _line_full(exc) from exc
    if ticket.ahead > 0:
        return Waiting(ctx, subject, ticket, accept)
    try:
        reply_id = await accept()
    except AtCapacity:
        return Waiting(ctx, subject, ticket, accept)
    except BaseException:
        await _quietly(ticket.leave(False))
        raise
    await _quietly(ticket.leave(True))
    return reply_id


async def keep_alive_until_admitted(
    waiting: Waiting, relay: Callable[[str], AsyncIterator[str]]
) -> AsyncIterator[str]:
    """A streaming waiter's response: keep-alive comments at once and while it waits, then the
    reply's chunks (`relay`); refused or failed admissions as an `error` chunk."""
    heartbeat_s = min(waiting.ctx.settings.sse_heartbeat_s, 5.0)
    admission = asyncio.create_task(waiting.admitted())
    relaying = False
    try:
        while not admission.done():
            yield ": keep-alive\n\n"
            await asyncio.wait({admission}, timeout=heartbeat_s)
        try:
            reply_id = admission.result()
        except ApiError as exc:
            yield _error_chunk(exc)
            return
        except Exception as exc:
            log.warning("a waiting /v1 request failed: %r", exc)
            failure = ApiError(503, "upstream_unavailable", "the request could not be started; retry")
            yield _error_chunk(failure)
            return
        relaying = True  # from here `relay` stops the reply when the client leaves
        async for chunk in relay(reply_id):
            yield chunk
    finally:
        if not admission.done():
            admission.cancel()
        elif not relaying:
            _stop_orphan(waiting.ctx, admission)


def _error_chunk(exc: ApiError) -> str:
    body = error_body(exc.status, exc.message, exc.code, getattr(exc, "param", None))
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


def _stop_orphan(ctx: AppContext, task: asyncio.Task) -> None:
    """An admission that finished after its client left: stop the reply nobody reads."""
    if task.cancelled() or task.exception() is not None:
        return
    stop = asyncio.create_task(request_stop(ctx.redis, task.result(), ctx.settings.reply_meta_ttl_s))
    _orphans.add(stop)
    stop.add_done_callback(_orphans.discard)


async def _quietly(action: Awaitable[object]) -> None:
    try:
        await action
    except Exception as exc:  # Redis failed: the ticket's lease lapses by itself
        log.warning("waiting line not updated: %r", exc)
