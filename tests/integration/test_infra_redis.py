"""Redis Streams as the reply streams use them: XADD, and XREAD blocking until an entry arrives."""

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import DONE, STATUS, TOKEN, reply_key

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(infra):
    client = aioredis.from_url(infra.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_xadd_then_xread_from_the_start(redis, unique_name):
    key = reply_key(unique_name())
    first = await redis.xadd(key, {"event": STATUS, "data": '{"state":"queued"}'})
    second = await redis.xadd(key, {"event": TOKEN, "data": '{"delta":"Hi"}'})
    try:
        [(stream, entries)] = await redis.xread({key: "0-0"})
        assert stream == key
        assert entries == [
            (first, {"event": STATUS, "data": '{"state":"queued"}'}),
            (second, {"event": TOKEN, "data": '{"delta":"Hi"}'}),
        ]
        # Resuming after an entry id (what Last-Event-ID does) returns only later entries.
        [(_, later)] = await redis.xread({key: first})
        assert [entry_id for entry_id, _ in later] == [second]
    finally:
        await redis.delete(key)


async def test_blocking_xread_wakes_up_when_an_entry_is_added(redis, infra, unique_name):
    key = reply_key(unique_name())
    writer = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        started = time.monotonic()
        reader = asyncio.create_task(redis.xread({key: "$"}, block=10_000))
        await asyncio.sleep(0.5)
        assert not reader.done(), "XREAD BLOCK returned before anything was added"
        entry_id = await writer.xadd(key, {"event": DONE, "data": "{}"})
        result = await asyncio.wait_for(reader, 5)
        elapsed = time.monotonic() - started
        assert result == [[key, [(entry_id, {"event": DONE, "data": "{}"})]]]
        assert 0.5 <= elapsed < 5
    finally:
        await writer.delete(key)
        await writer.aclose()


async def test_blocking_xread_times_out_empty(redis, unique_name):
    key = reply_key(unique_name())
    started = time.monotonic()
    assert await redis.xread({key: "$"}, block=300) == []
    assert time.monotonic() - started >= 0.25
