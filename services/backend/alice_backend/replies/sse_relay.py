"""Relay of the Redis Stream `reply:{id}` as Server-Sent Events.

Each stream entry (`event`, `data`) becomes one SSE event whose `id:` is the entry id, so a client
resumes exactly after the last event it saw with `Last-Event-ID`. A comment line is sent whenever
nothing arrived for a heartbeat interval, keeping proxies from closing an idle connection.

The application's failure event is `failed`, never `error`: a browser `EventSource` fires its own
`error` event on every dropped connection, so a client could not tell the two apart. A client
that already saw the last event of a finished reply gets `204 No Content` (`finished_for`), which
per the SSE specification makes `EventSource` stop reconnecting for good.
"""

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import aclosing

import redis.asyncio as aioredis
from alice_common.reply_stream import FAILED, LEGACY_ERROR, TERMINAL_EVENTS, ReplyStream, reply_key
from prometheus_client import Gauge
from redis.exceptions import RedisError

from alice_backend.replies.shared_reader import ReplyHub

log = logging.getLogger(__name__)

RETRY_MS = 1000
OPEN_STREAMS = Gauge("alice_sse_streams_open", "Reply streams (SSE and OpenAI-compatible) being relayed")
EXPIRED_ID = "0-1"
EXPIRED = {
    "code": "reply_expired",
    "message": "this reply is no longer streamable; read it from the conversation",
}
_ENTRY_ID = re.compile(r"^\d+-\d+$")

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def start_after(last_event_id: str | None) -> str:
    """Stream entry id to read after; an unusable Last-Event-ID replays from the start."""
    if last_event_id and _ENTRY_ID.fullmatch(last_event_id.strip()):
        return last_event_id.strip()
    return "0-0"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


async def finished_for(redis: aioredis.Redis, reply_id: str, last_event_id: str | None) -> bool:
    """True when the client has already seen the reply's last event: the stream ended at or
    before `last_event_id`, or the client saw the `reply_expired` event of a vanished stream."""
    after = start_after(last_event_id)
    if after == "0-0":
        return False
    if after == EXPIRED_ID:
        return True
    last = await ReplyStream(redis, reply_id).last_entry()
    if last is None:
        return False
    entry_id, event = last
    return event in TERMINAL_EVENTS and _id_key(after) >= _id_key(entry_id)


async def _still_there(redis: aioredis.Redis, key: str) -> bool:
    try:
        return bool(await redis.exists(key))
    except RedisError:
        return True  # a Redis hiccup is not an expiry: the next read decides


def format_event(entry_id: str, event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"id: {entry_id}\nevent: {event}\n{lines}\n"


async def relay(hub: ReplyHub, reply_id: str, after: str, heartbeat_s: float) -> AsyncIterator[str]:
    # Tells the client how long to wait before reconnecting.
    yield f"retry: {RETRY_MS}\n\n"
    async with aclosing(entries(hub, reply_id, after, heartbeat_s)) as events:
        async for entry_id, event, data in events:
            if entry_id is None:
                yield ": heartbeat\n\n"
            else:
                yield format_event(entry_id, event, data)


async def entries(
    hub: ReplyHub, reply_id: str, after: str, heartbeat_s: float
) -> AsyncIterator[tuple[str | None, str, str]]:
    """The reply's events after `after` as (id, event, data) up to and including the terminal
    one; (None, "", "") whenever a heartbeat interval passed with nothing new."""
    key = reply_key(reply_id)
    OPEN_STREAMS.inc()
    try:
        # The stream is written before the reply id is ever handed out, so a missing one has expired.
        try:
            exists = await hub.redis.exists(key)
        except RedisError as exc:  # as below: end the response, the client reconnects
            log.warning("reply stream %s: Redis read failed: %s", reply_id, exc)
            return
        if not exists:
            yield EXPIRED_ID, FAILED, json.dumps(EXPIRED)
            return
        subscription = hub.subscribe(key, after)
        try:
            while True:
                try:
                    batch = await subscription.next_batch(heartbeat_s)
                except RedisError as exc:
                    # End the response; the client reconnects with Last-Event-ID and loses nothing.
                    log.warning("reply stream %s: Redis read failed: %s", reply_id, exc)
                    return
                if not batch:
                    # A stream that expired meanwhile is never read again: check, or heartbeat forever.
                    if not await _still_there(hub.redis, key):
                        yield EXPIRED_ID, FAILED, json.dumps(EXPIRED)
                        return
                    yield None, "", ""
                    continue
                for entry_id, fields in batch:
                    event = fields.get("event", "message")
                    if event == LEGACY_ERROR:
                        event = FAILED
                    yield entry_id, event, fields.get("data", "{}")
                    if event in TERMINAL_EVENTS:
                        return
        finally:
            subscription.close()
    finally:
        OPEN_STREAMS.dec()
