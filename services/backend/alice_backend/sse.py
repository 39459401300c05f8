"""Relay of the Redis Stream `reply:{id}` as Server-Sent Events.

Each stream entry (`event`, `data`) becomes one SSE event whose `id:` is the entry id, so a client
resumes exactly after the last event it saw with `Last-Event-ID`. A comment line is sent whenever
nothing arrived for a heartbeat interval, keeping proxies from closing an idle connection.
"""

import json
import logging
import re
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

TERMINAL_EVENTS = {"done", "error"}
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


def blocking_client(redis_url: str, heartbeat_s: float) -> aioredis.Redis:
    """A client for XREAD BLOCK: its read timeout must outlast the block time."""
    return aioredis.from_url(
        redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=heartbeat_s + 10
    )


def format_event(entry_id: str, event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"id: {entry_id}\nevent: {event}\n{lines}\n"


async def relay(
    redis: aioredis.Redis, reply_id: str, after: str, heartbeat_s: float, batch: int = 100
) -> AsyncIterator[str]:
    key = f"reply:{reply_id}"
    block_ms = max(1, int(heartbeat_s * 1000))
    # Tells the client how long to wait before reconnecting.
    yield "retry: 1000\n\n"
    # The stream is written before the reply id is ever handed out, so a missing one has expired.
    if not await redis.exists(key):
        yield format_event(EXPIRED_ID, "error", json.dumps(EXPIRED))
        return
    while True:
        try:
            answer = await redis.xread({key: after}, count=batch, block=block_ms)
        except RedisError as exc:
            # End the response; the client reconnects with Last-Event-ID and loses nothing.
            log.warning("reply stream %s: Redis read failed: %s", reply_id, exc)
            return
        if not answer:
            yield ": heartbeat\n\n"
            continue
        for entry_id, fields in answer[0][1]:
            after = entry_id
            event = fields.get("event", "message")
            yield format_event(entry_id, event, fields.get("data", "{}"))
            if event in TERMINAL_EVENTS:
                return
