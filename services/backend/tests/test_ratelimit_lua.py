"""The Lua limits against a real Redis: atomic under concurrency, refilling over time."""

import asyncio
import uuid

from alice_backend.ratelimit import RateLimiter
from alice_common.reply_stream import active_key


def _user() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_bucket_allows_capacity_then_refuses_with_retry_after(redis):
    limiter = RateLimiter(redis)
    key = f"rl:{_user()}:login"
    results = [await limiter.take(key, capacity=3, per_s=0.5) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[-1].retry_after_s == 2  # one token at 0.5/s


async def test_bucket_refills(redis):
    limiter = RateLimiter(redis)
    key = f"rl:{_user()}:x"
    assert (await limiter.take(key, capacity=1, per_s=20)).allowed
    assert not (await limiter.take(key, capacity=1, per_s=20)).allowed
    await asyncio.sleep(0.1)
    assert (await limiter.take(key, capacity=1, per_s=20)).allowed


async def test_send_bucket_limits_even_below_the_concurrency_cap(redis):
    limiter = RateLimiter(redis)
    user = _user()
    decisions = await asyncio.gather(
        *(
            limiter.start_generation(user, f"r{i}", 5, 0.1, max_active=1000, active_ttl_s=60)
            for i in range(20)
        )
    )
    assert sum(d.allowed for d in decisions) == 5
    refused = [d for d in decisions if not d.allowed]
    assert {d.reason for d in refused} == {"rate"} and all(d.retry_after_s >= 1 for d in refused)
    assert await redis.zcard(active_key(user)) == 5
