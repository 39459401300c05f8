"""The reply-stream protocol between the backend and the orchestrator, in one place: the Redis
keys, the event names, the admission script and the generation-slot helpers (docs/contracts.md,
"Data ownership"; docs/chat.md).

- `reply:{reply_id}`: a Redis Stream, one entry per event, fields `event` and `data` (JSON). The
  backend writes `status {state: queued}` on admission; the orchestrator writes `status
  {state: generating}`, `token {delta}`, `reset` (the deltas so far are withdrawn) and ends it
  with `done {message}` or `failed {code, message}`, then the stream gets its TTL.
- `replymeta:{reply_id}`: a hash with the reply's owner and what is needed to regenerate it.
- `cancel:{reply_id}`: present when someone asked the reply to stop.
- `active:{user_id}`: a sorted set of the user's generation slots (reply id -> start time).
- `streams:{user_id}`: a sorted set of the user's open reply streams (the backend's cap on them;
  slot token -> lease end).
- `relaywake:{instance}`: one backend process's wake-up stream: an entry ends its reader's
  blocking XREAD over the reply streams it relays (`alice_backend.replies.shared_reader`).

Nothing else in the code base spells these keys or names.
"""

import json
from dataclasses import dataclass

import redis.asyncio as aioredis

# -- keys ----------------------------------------------------------------------------------------


def reply_key(reply_id: str) -> str:
    return f"reply:{reply_id}"


def reply_meta_key(reply_id: str) -> str:
    return f"replymeta:{reply_id}"


def cancel_key(reply_id: str) -> str:
    return f"cancel:{reply_id}"


def active_key(user_id: str) -> str:
    """The user's generation slots."""
    return f"active:{user_id}"


def open_streams_key(user_id: str) -> str:
    """The user's open reply streams (`alice_backend.replies.stream_slots`)."""
    return f"streams:{user_id}"


def relay_wake_key(instance: str) -> str:
    """A backend process's wake-up stream (`alice_backend.replies.shared_reader`)."""
    return f"relaywake:{instance}"


def send_bucket_key(user_id: str) -> str:
    """The user's token bucket for sending (checked together with the slots on admission)."""
    return f"rl:{user_id}:send"


# -- events --------------------------------------------------------------------------------------

STATUS = "status"
TOKEN = "token"
RESET = "reset"
DONE = "done"
# Never `error`: a browser EventSource fires its own `error` on every dropped connection.
FAILED = "failed"
# What streams written before the rename hold; read as `failed`.
LEGACY_ERROR = "error"
TERMINAL_EVENTS = frozenset({DONE, FAILED, LEGACY_ERROR})

QUEUED = "queued"
GENERATING = "generating"


def entry(event: str, data: dict) -> dict[str, str]:
    """The fields of one stream entry."""
    return {"event": event, "data": json.dumps(data)}


class ReplyStream:
    """Reading and writing one reply's stream."""

    def __init__(self, redis: aioredis.Redis, reply_id: str):
        self.redis = redis
        self.reply_id = reply_id
        self.key = reply_key(reply_id)

    async def add(self, event: str, data: dict) -> str:
        return await self.redis.xadd(self.key, entry(event, data))

    async def end(self, event: str, data: dict, ttl_s: int | None, user_id: str | None) -> None:
        """Write the terminal event (`done`/`failed`), start the stream's TTL (unless `ttl_s` is
        None) and release the user's generation slot in one MULTI, so a client that sees the end
        can send again at once."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.key, entry(event, data))
            if ttl_s is not None:
                pipe.expire(self.key, ttl_s)
            if user_id:
                pipe.zrem(active_key(user_id), self.reply_id)
            await pipe.execute()

    async def fail(self, code: str, message: str, ttl_s: int | None, user_id: str | None) -> None:
        await self.end(FAILED, {"code": code, "message": message}, ttl_s, user_id)

    async def exists(self) -> bool:
        return bool(await self.redis.exists(self.key))

    async def events(self) -> list[tuple[str, str, dict]]:
        entries = await self.redis.xrange(self.key)
        return [(entry_id, f.get("event", ""), json.loads(f.get("data") or "{}")) for entry_id, f in entries]

    async def last_entry(self) -> tuple[str, str] | None:
        """(entry id, event) of the newest entry, or None for a missing stream."""
        last = await self.redis.xrevrange(self.key, count=1)
        if not last:
            return None
        entry_id, fields = last[0]
        return entry_id, fields.get("event", "")

    async def has_tokens_since_reset(self) -> bool:
        """True when an earlier attempt streamed tokens that no `reset` has withdrawn yet."""
        for _id, fields in await self.redis.xrevrange(self.key):
            event = fields.get("event")
            if event == RESET:
                return False
            if event == TOKEN:
                return True
        return False

    async def has_terminal_event(self) -> bool:
        for _id, fields in await self.redis.xrevrange(self.key, count=5):
            if fields.get("event") in TERMINAL_EVENTS:
                return True
        return False


# -- stop requests -------------------------------------------------------------------------------


async def request_stop(redis: aioredis.Redis, reply_id: str, ttl_s: int) -> None:
    await redis.set(cancel_key(reply_id), "1", ex=ttl_s)


async def stop_requested(redis: aioredis.Redis, reply_id: str) -> bool:
    return bool(await redis.exists(cancel_key(reply_id)))


async def reply_meta(redis: aioredis.Redis, reply_id: str) -> dict[str, str]:
    return await redis.hgetall(reply_meta_key(reply_id))


# -- generation slots ----------------------------------------------------------------------------

# A token bucket in Redis, on Redis's clock so every replica agrees on time.
BUCKET_LUA = """
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- Returns tokens after refill and the time; does not write.
local function refill(key, capacity, rate, now)
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1])
  local ts = tonumber(state[2])
  if tokens == nil then return capacity end
  return math.min(capacity, tokens + math.max(0, now - ts) * rate)
end
local function store(key, tokens, now, capacity, rate)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 1)
end
"""

# KEYS[1] send bucket, KEYS[2] active ZSET, optional KEYS[3] replymeta hash, KEYS[4] reply stream;
# ARGV capacity, rate, max_active, reply_id, active_ttl_s[, meta_ttl_s, stream_ttl_s, queued_json,
# meta field, value, ...] -> {1, 0, 'ok'} or {0, retry_after_ms, 'rate'|'concurrency'}
# Admitted replies get their metadata and `status: queued` in the same step: one round trip.
ADMIT_LUA = (
    BUCKET_LUA
    + """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_active, reply_id, active_ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local now = now_s()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - active_ttl)
if redis.call('ZCARD', KEYS[2]) >= max_active then
  return {0, 1000, 'concurrency'}
end
local tokens = refill(KEYS[1], capacity, rate, now)
if tokens < 1 then
  return {0, math.ceil((1 - tokens) / rate * 1000), 'rate'}
end
store(KEYS[1], tokens - 1, now, capacity, rate)
redis.call('ZADD', KEYS[2], now, reply_id)
redis.call('EXPIRE', KEYS[2], active_ttl)
if #KEYS == 4 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 9))
  redis.call('EXPIRE', KEYS[3], ARGV[6])
  redis.call('XADD', KEYS[4], '*', 'event', '"""
    + STATUS
    + """', 'data', ARGV[8])
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
return {1, 0, 'ok'}
"""
)


@dataclass(frozen=True)
class ReplyRecords:
    """Written only when the reply is admitted: `replymeta:{id}` and the `queued` status event."""

    meta: dict[str, str]
    meta_ttl_s: int
    stream_ttl_s: int


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after_ms: int = 0
    reason: str = "ok"  # or "rate" | "concurrency"


@dataclass(frozen=True)
class SlotLimits:
    capacity: float  # of the send bucket
    per_s: float  # its refill rate
    max_active: int  # generation slots per user
    active_ttl_s: int  # a slot older than this stops counting (a crashed worker never blocks)


class Slots:
    """Acquiring a generation slot (with the send bucket, atomically) and releasing it."""

    def __init__(self, redis: aioredis.Redis):
        self.redis = redis
        self._admit = redis.register_script(ADMIT_LUA)

    async def acquire(
        self, user_id: str, reply_id: str, limits: SlotLimits, records: ReplyRecords | None = None
    ) -> Admission:
        keys = [send_bucket_key(user_id), active_key(user_id)]
        args: list = [limits.capacity, limits.per_s, limits.max_active, reply_id, limits.active_ttl_s]
        if records is not None:
            keys += [reply_meta_key(reply_id), reply_key(reply_id)]
            queued = json.dumps({"state": QUEUED}, separators=(",", ":"))
            args += [records.meta_ttl_s, records.stream_ttl_s, queued]
            args += [item for pair in records.meta.items() for item in pair]
        allowed, retry_ms, reason = await self._admit(keys=keys, args=args)
        return Admission(bool(allowed), int(retry_ms), reason)

    async def release(self, user_id: str, reply_id: str) -> None:
        await release_slot(self.redis, user_id, reply_id)


async def release_slot(redis: aioredis.Redis, user_id: str, reply_id: str) -> None:
    await redis.zrem(active_key(user_id), reply_id)
