"""A per-user cap on reply streams open at once, across every backend replica.

Each open stream (SSE or `/v1/chat/completions` with `stream: true`) holds a slot: a member of
the Redis sorted set `streams:{user}` scored with its lease's end (Redis server time). A stream
renews its lease while it runs and gives the slot back when it ends; a replica that dies
mid-stream leaks its slots only until their leases end.
"""

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import aclosing

import redis.asyncio as aioredis
from alice_common.reply_stream import open_streams_key as slots_key
from redis.exceptions import RedisError

from alice_backend.errors import ApiError

# KEYS[1] slots; ARGV limit, lease_s, token -> 1 taken | 0 full
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
return 1
"""

# KEYS[1] slots; ARGV lease_s, token: extends a slot still held (not one already expired)
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
return 1
"""


class StreamSlots:
    def __init__(self, redis: aioredis.Redis, limit: int, lease_s: float) -> None:
        self.redis = redis
        self.limit = limit
        self.lease_s = lease_s
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)

    async def acquire(self, user_id: str) -> str:
        """A slot's token, or 429 `too_many_streams`."""
        token = secrets.token_hex(8)
        if not await self._acquire(keys=[slots_key(user_id)], args=[self.limit, self.lease_s, token]):
            raise ApiError(
                429,
                "too_many_streams",
                f"at most {self.limit} reply streams may be open at once; close one first",
                {"Retry-After": "1"},
            )
        return token

    async def hold(self, user_id: str, token: str, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        """Relays `chunks` while holding the slot: renewed a few times per lease, given back at
        the end however the stream ends (finished, client gone, error)."""
        renew_every = self.lease_s / 3
        renewed = time.monotonic()
        try:
            async with aclosing(chunks) as relayed:
                async for chunk in relayed:
                    if time.monotonic() - renewed >= renew_every:
                        renewed = time.monotonic()
                        renewal = self._renew(keys=[slots_key(user_id)], args=[self.lease_s, token])
                        await self._quietly(renewal)
                    yield chunk
        finally:
            await self._quietly(self.redis.zrem(slots_key(user_id), token))

    @staticmethod
    async def _quietly(call) -> None:
        # A slot left behind costs the user a slot until its lease ends; never the stream itself.
        try:
            await call
        except RedisError:
            pass
