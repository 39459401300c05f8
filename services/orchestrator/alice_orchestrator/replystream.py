"""Writing a reply's events to its Redis Stream `reply:{reply_id}` (docs/contracts.md, "Data ownership").

Each entry has `event` (status|token|reset|done|failed) and `data` (JSON). Token deltas are
coalesced: the first delta goes out at once (time to first token matters most), later ones are
buffered so Redis sees at most one token XADD per `flush_interval` per reply.
"""

import asyncio
import json
import time

import redis.asyncio as aioredis


def stream_key(reply_id: str) -> str:
    return f"reply:{reply_id}"


def cancel_key(reply_id: str) -> str:
    return f"cancel:{reply_id}"


def active_key(user_id: str) -> str:
    return f"active:{user_id}"


class ReplyStream:
    def __init__(self, redis: aioredis.Redis, reply_id: str):
        self.redis = redis
        self.reply_id = reply_id
        self.key = stream_key(reply_id)

    async def add(self, event: str, data: dict) -> str:
        return await self.redis.xadd(self.key, {"event": event, "data": json.dumps(data)})

    async def end(self, event: str, data: dict, ttl_s: int, user_id: str | None) -> None:
        """Write the terminal event (`done`/`error`), start the stream's TTL and free the user's
        generation slot in one MULTI, so a client that sees the end can send again at once."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.key, {"event": event, "data": json.dumps(data)})
            pipe.expire(self.key, ttl_s)
            if user_id:
                pipe.zrem(active_key(user_id), self.reply_id)
            await pipe.execute()

    async def expire(self, ttl_s: int) -> None:
        await self.redis.expire(self.key, ttl_s)

    async def exists(self) -> bool:
        return bool(await self.redis.exists(self.key))

    async def events(self) -> list[tuple[str, str, dict]]:
        entries = await self.redis.xrange(self.key)
        return [(entry_id, f.get("event", ""), json.loads(f.get("data") or "{}")) for entry_id, f in entries]

    async def has_tokens_since_reset(self) -> bool:
        """True when an earlier attempt streamed tokens that no `reset` has withdrawn yet."""
        for _id, fields in await self.redis.xrevrange(self.key):
            event = fields.get("event")
            if event == "reset":
                return False
            if event == "token":
                return True
        return False

    async def has_terminal_event(self) -> bool:
        for _id, fields in await self.redis.xrevrange(self.key, count=5):
            if fields.get("event") in ("done", "failed", "error"):
                return True
        return False


class TokenCoalescer:
    """Buffers deltas and writes them as one `token` event at most once per interval.

    `add` never awaits, so the task reading the model can be cancelled (a stop request) at any
    time without interrupting an XADD; a single writer task owns all writes to the stream.
    """

    def __init__(self, stream: ReplyStream, flush_interval_s: float = 0.020):
        self.stream = stream
        self.interval = flush_interval_s
        self.buffer: list[str] = []
        self.text: list[str] = []  # everything written, for the stored message
        self.last_flush = float("-inf")
        self.writes = 0
        self.first_write_at: float | None = None  # time.time() of the first token's XADD
        self._writer: asyncio.Task | None = None

    @property
    def content(self) -> str:
        return "".join(self.text)

    def add(self, delta: str) -> None:
        if not delta:
            return
        self.buffer.append(delta)
        if self._writer is None or self._writer.done():
            if self._writer is not None and self._writer.exception() is not None:
                return  # the failure surfaces from close()
            self._writer = asyncio.create_task(self._write_pending())

    async def _write_pending(self) -> None:
        while self.buffer:
            wait = self.last_flush + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            delta = "".join(self.buffer)
            self.buffer.clear()
            self.text.append(delta)
            self.last_flush = time.monotonic()
            self.writes += 1
            await self.stream.add("token", {"delta": delta})
            if self.first_write_at is None:
                self.first_write_at = time.time()

    async def close(self) -> None:
        """Write what is left; after this, `content` equals the concatenation of the deltas sent."""
        if self._writer is not None:
            await self._writer
        if self.buffer:
            self._writer = asyncio.create_task(self._write_pending())
            await self._writer
