"""Atomic rate limits in Redis (Lua): token buckets, and the send check that combines a
per-user token bucket with a cap on concurrent generations (the generation slots of
`alice_common.reply_stream`).

Both use the Redis server clock, so every backend replica agrees on time.
"""

from dataclasses import dataclass

import redis.asyncio as aioredis
from alice_common.reply_stream import BUCKET_LUA, ReplyRecords, SlotLimits, Slots

from alice_backend.errors import ApiError

# KEYS[1] bucket; ARGV capacity, rate per s, cost -> {allowed 1|0, retry_after_ms}. A negative
# cost gives tokens back, never past the capacity.
_TAKE = (
    BUCKET_LUA
    + """
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_s()
local tokens = refill(KEYS[1], capacity, rate, now)
if tokens < cost then
  return {0, math.ceil((cost - tokens) / rate * 1000)}
end
store(KEYS[1], math.min(capacity, tokens - cost), now, capacity, rate)
return {1, 0}
"""
)


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
        self.slots = Slots(redis)

    async def take(self, key: str, capacity: float, per_s: float, cost: float = 1) -> Decision:
        allowed, retry_ms = await self._take(keys=[key], args=[capacity, per_s, cost])
        return Decision(True) if allowed else Decision(False, _retry_s(retry_ms), "rate")

    async def give_back(self, key: str, capacity: float, per_s: float) -> None:
        """Returns the token a `require` took: the attempt turned out not to count."""
        await self._take(keys=[key], args=[capacity, per_s, -1])

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
        limits = SlotLimits(capacity, per_s, max_active, active_ttl_s)
        admission = await self.slots.acquire(user_id, reply_id, limits, records)
        if admission.allowed:
            return Decision(True)
        return Decision(False, _retry_s(admission.retry_after_ms), admission.reason)
