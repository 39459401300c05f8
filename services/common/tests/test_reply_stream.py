"""The reply-stream protocol against a real Redis: slots are taken atomically and given back,
the stream's terminal event releases the slot, and `reset` withdraws earlier tokens."""

import asyncio
import json
import uuid

import pytest
import redis.asyncio as aioredis
from alice_common import reply_stream
from alice_common.reply_stream import (
    DONE,
    FAILED,
    LEGACY_ERROR,
    RESET,
    STATUS,
    TOKEN,
    ReplyRecords,
    ReplyStream,
    SlotLimits,
    Slots,
    active_key,
    cancel_key,
    reply_key,
    reply_meta_key,
)


def _id() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def redis(infra):
    client = aioredis.from_url(infra.redis_url, decode_responses=True)
    yield client
    await client.aclose()


def test_every_key_has_its_own_namespace():
    keys = [
        reply_key("x"),
        reply_meta_key("x"),
        cancel_key("x"),
        active_key("x"),
        reply_stream.send_bucket_key("x"),
    ]
    prefixes = {key.rsplit("x", 1)[0] for key in keys}
    assert len(prefixes) == len(keys)
    assert reply_stream.TERMINAL_EVENTS == {DONE, FAILED, LEGACY_ERROR}


async def test_the_slot_cap_is_atomic_under_a_burst_and_release_frees_a_slot(redis):
    slots, user = Slots(redis), _id()
    limits = SlotLimits(capacity=100, per_s=1, max_active=3, active_ttl_s=60)
    admissions = await asyncio.gather(*(slots.acquire(user, f"r{i}", limits) for i in range(40)))
    assert sum(a.allowed for a in admissions) == 3
    assert {a.reason for a in admissions if not a.allowed} == {"concurrency"}
    assert await redis.zcard(active_key(user)) == 3
    member = (await redis.zrange(active_key(user), 0, 0))[0]
    await slots.release(user, member)
    assert (await slots.acquire(user, "next", limits)).allowed
    await redis.delete(active_key(user), reply_stream.send_bucket_key(user))


async def test_a_stale_slot_stops_counting(redis):
    slots, user = Slots(redis), _id()
    await redis.zadd(active_key(user), {"crashed": 1.0})  # started in 1970
    admission = await slots.acquire(user, "fresh", SlotLimits(10, 1, max_active=1, active_ttl_s=60))
    assert admission.allowed
    assert await redis.zrange(active_key(user), 0, -1) == ["fresh"]
    await redis.delete(active_key(user), reply_stream.send_bucket_key(user))


async def test_admission_writes_the_reply_records_only_when_admitted(redis):
    slots, user = Slots(redis), _id()
    a, b = _id(), _id()
    records = ReplyRecords(meta={"user_id": user, "content": "hi"}, meta_ttl_s=60, stream_ttl_s=120)
    limits = SlotLimits(10, 1, max_active=1, active_ttl_s=60)
    admitted = await slots.acquire(user, a, limits, records)
    refused = await slots.acquire(user, b, limits, records)
    assert admitted.allowed and not refused.allowed
    assert await reply_stream.reply_meta(redis, a) == {"user_id": user, "content": "hi"}
    assert [(event, data) for _, event, data in await ReplyStream(redis, a).events()] == [
        (STATUS, {"state": reply_stream.QUEUED})
    ]
    assert 0 < await redis.ttl(reply_key(a)) <= 120 and 0 < await redis.ttl(reply_meta_key(a)) <= 60
    assert not await redis.exists(reply_meta_key(b), reply_key(b))
    await redis.delete(reply_meta_key(a), reply_key(a), active_key(user), reply_stream.send_bucket_key(user))


async def test_the_terminal_event_sets_the_ttl_and_releases_the_slot_in_one_step(redis):
    user, reply = _id(), _id()
    await redis.zadd(active_key(user), {reply: 1})
    stream = ReplyStream(redis, reply)
    await stream.add(TOKEN, {"delta": "Hel"})
    assert not await stream.has_terminal_event()
    await stream.end(DONE, {"message": {"content": "Hel"}}, 30, user)
    assert await stream.has_terminal_event()
    assert 0 < await redis.ttl(reply_key(reply)) <= 30
    assert await redis.zscore(active_key(user), reply) is None
    assert (await stream.last_entry())[1] == DONE
    await redis.delete(reply_key(reply))


async def test_a_failure_without_ttl_keeps_the_streams_ttl(redis):
    user, reply = _id(), _id()
    stream = ReplyStream(redis, reply)
    await stream.add(STATUS, {"state": reply_stream.QUEUED})
    await redis.expire(reply_key(reply), 500)
    await stream.fail("not_accepted", "not accepted", None, user)
    _, event, data = (await stream.events())[-1]
    assert (event, data) == (FAILED, {"code": "not_accepted", "message": "not accepted"})
    assert await redis.ttl(reply_key(reply)) > 400
    await redis.delete(reply_key(reply))


async def test_reset_withdraws_the_tokens_before_it(redis):
    stream = ReplyStream(redis, _id())
    assert not await stream.has_tokens_since_reset()
    await stream.add(TOKEN, {"delta": "a"})
    assert await stream.has_tokens_since_reset()
    await stream.add(RESET, {})
    assert not await stream.has_tokens_since_reset()
    await redis.delete(stream.key)


async def test_a_legacy_error_entry_ends_a_stream(redis):
    stream = ReplyStream(redis, _id())
    await redis.xadd(stream.key, {"event": LEGACY_ERROR, "data": json.dumps({"code": "x"})})
    assert await stream.has_terminal_event()
    await redis.delete(stream.key)


async def test_stop_requests(redis):
    reply = _id()
    assert not await reply_stream.stop_requested(redis, reply)
    await reply_stream.request_stop(redis, reply, 60)
    assert await reply_stream.stop_requested(redis, reply)
    assert 0 < await redis.ttl(cancel_key(reply)) <= 60
    await redis.delete(cancel_key(reply))
