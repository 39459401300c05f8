"""Atomic rate limits in Redis (Lua): token buckets, and the send check that combines a
per-user token bucket with a cap on concurrent generations (`active:{user}` ZSET).

Both use the Redis server clock, so every backend replica agrees on time.
"""

from dataclasses import dataclass

import redis.asyncio as aioredis

from alice_backend.errors import ApiError

_BUCKET_LIB = """
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

# KEYS[1] bucket; ARGV capacity, rate per s, cost -> {allowed 1|0, retry_after_ms}
_TAKE = (
    _BUCKET_LIB
    + """
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_s()
local tokens = refill(KEYS[1], capacity, rate, now)
if tokens < cost then
  return {0, math.ceil((cost - tokens) / rate * 1000)}
end
store(KEYS[1], tokens - cost, now, capacity, rate)
return {1, 0}
"""
)

# KEYS[1] bucket, KEYS[2] active ZSET, optional KEYS[3] replymeta hash, KEYS[4] reply stream;
# ARGV capacity, rate, max_active, reply_id, active_ttl_s[, meta_ttl_s, stream_ttl_s, queued_json,
# meta field, value, ...] -> {1, 0, 'ok'} or {0, retry_after_ms, 'rate'|'concurrency'}
# Admitted replies get their metadata and `status: queued` in the same step: one round trip.
_SEND = (
    _BUCKET_LIB
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
  redis.call('XADD', KEYS[4], '*', 'event', 'status', 'data', ARGV[8])
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
    queued_json: str = '{"state":"queued"}'


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0
    reason: str = "ok"


def _retry_s(ms: int) -> int:
    return max(1, -(-int(ms) // 1000))


class RateLimiter:
    def __init__(self, redis: aioredis.Redis):
        self._take = redis.register_script(_TAKE)
        self._send = redis.register_script(_SEND)

    async def take(self, key: str, capacity: float, per_s: float, cost: float = 1) -> Decision:
        allowed, retry_ms = await self._take(keys=[key], args=[capacity, per_s, cost])
        return Decision(True) if allowed else Decision(False, _retry_s(retry_ms), "rate")

    async def require(self, key: str, capacity: float, per_s: float, message: str) -> None:
        """Takes a token or refuses the request: 429 `rate_limited` with `Retry-After`."""
        decision = await self.take(key, capacity, per_s)
        if not decision.allowed:
            raise ApiError(429, "rate_limited", message, {"Retry-After": str(decision.retry_after_s)})

    async def start_generation(
        self,
        user_id: str,
        reply_id: str,
        capacity: float,
        per_s: float,
        max_active: int,
        active_ttl_s: int,
        records: ReplyRecords | None = None,
    ) -> Decision:
        keys = [f"rl:{user_id}:send", f"active:{user_id}"]
        args: list = [capacity, per_s, max_active, reply_id, active_ttl_s]
        if records is not None:
            keys += [f"replymeta:{reply_id}", f"reply:{reply_id}"]
            args += [records.meta_ttl_s, records.stream_ttl_s, records.queued_json]
            args += [item for pair in records.meta.items() for item in pair]
        allowed, retry_ms, reason = await self._send(keys=keys, args=args)
        return Decision(True) if allowed else Decision(False, _retry_s(retry_ms), reason)
