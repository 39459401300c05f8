"""The Lua limits against a real Redis: atomic under concurrency, refilling over time."""

import asyncio
import uuid

from alice_backend.ratelimit import RateLimiter


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


async def test_concurrency_cap_is_atomic_under_a_burst(redis):
    limiter = RateLimiter(redis)
    user = _user()
    decisions = await asyncio.gather(
        *(limiter.start_generation(user, f"r{i}", 100, 1, max_active=3, active_ttl_s=60) for i in range(40))
    )
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == 3
    assert {d.reason for d in decisions if not d.allowed} == {"concurrency"}
    assert await redis.zcard(f"active:{user}") == 3
    # A finished reply (the orchestrator ZREMs it) frees a slot.
    member = (await redis.zrange(f"active:{user}", 0, 0))[0]
    await redis.zrem(f"active:{user}", member)
    assert (await limiter.start_generation(user, "next", 100, 1, max_active=3, active_ttl_s=60)).allowed


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
    assert await redis.zcard(f"active:{user}") == 5


async def test_stale_generations_stop_counting(redis):
    limiter = RateLimiter(redis)
    user = _user()
    await redis.zadd(f"active:{user}", {"crashed": 1.0})  # started in 1970
    decision = await limiter.start_generation(user, "fresh", 10, 1, max_active=1, active_ttl_s=60)
    assert decision.allowed
    assert await redis.zrange(f"active:{user}", 0, -1) == ["fresh"]


async def test_admission_writes_reply_records_only_when_admitted(redis):
    from alice_backend.ratelimit import ReplyRecords

    limiter = RateLimiter(redis)
    user = _user()
    records = ReplyRecords(meta={"user_id": user, "content": "hi"}, meta_ttl_s=60, stream_ttl_s=120)
    admitted = await limiter.start_generation(user, f"{user}-a", 10, 1, 1, 60, records)
    refused = await limiter.start_generation(user, f"{user}-b", 10, 1, 1, 60, records)
    assert admitted.allowed and not refused.allowed
    assert await redis.hgetall(f"replymeta:{user}-a") == {"user_id": user, "content": "hi"}
    [(_, fields)] = await redis.xrange(f"reply:{user}-a")
    assert fields == {"event": "status", "data": '{"state":"queued"}'}
    assert 0 < await redis.ttl(f"reply:{user}-a") <= 120 and 0 < await redis.ttl(f"replymeta:{user}-a") <= 60
    assert not await redis.exists(f"replymeta:{user}-b", f"reply:{user}-b")
    await redis.delete(f"replymeta:{user}-a", f"reply:{user}-a")
