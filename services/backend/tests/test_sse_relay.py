"""The SSE relay against a real Redis Stream."""

import asyncio
import uuid

import pytest
from alice_backend.replies import sse_relay
from alice_backend.replies.shared_reader import ReplyHub
from alice_common.reply_stream import DONE, FAILED, STATUS, TOKEN, ReplyStream, reply_key


@pytest.fixture
async def hub(infra):
    hub = ReplyHub(infra.redis_url, block_s=5)
    yield hub
    await hub.aclose()


def test_format_event_puts_every_data_line_on_its_own_field():
    assert (
        sse_relay.format_event("1-0", "token", '{"delta":"a"}')
        == 'id: 1-0\nevent: token\ndata: {"delta":"a"}\n\n'
    )
    assert sse_relay.format_event("1-1", "x", "a\nb") == "id: 1-1\nevent: x\ndata: a\ndata: b\n\n"


def test_start_after_ignores_unusable_ids():
    assert sse_relay.start_after("1700000000000-3") == "1700000000000-3"
    for bad in (None, "", "abc", "1-2-3", "$"):
        assert sse_relay.start_after(bad) == "0-0"


async def _collect(gen, limit=50):
    out = []
    async for chunk in gen:
        out.append(chunk)
        if len(out) >= limit:
            break
    return out


async def test_relay_resumes_exactly_after_an_id_and_ends_at_done(redis, hub):
    reply = uuid.uuid4().hex
    key = reply_key(reply)
    ids = []
    for event, data in [
        (STATUS, {"state": "queued"}),
        (TOKEN, {"delta": "He"}),
        (TOKEN, {"delta": "llo"}),
        (DONE, {"message": {"content": "Hello"}}),
    ]:
        ids.append(await ReplyStream(redis, reply).add(event, data))
    await redis.xadd(key, {"event": TOKEN, "data": "{}"})  # after done: never relayed
    full = await _collect(sse_relay.relay(hub, reply, "0-0", heartbeat_s=1))
    events = [c for c in full if c.startswith("id:")]
    assert [e.split("\n")[0] for e in events] == [f"id: {i}" for i in ids]
    resumed = [
        c for c in await _collect(sse_relay.relay(hub, reply, ids[1], heartbeat_s=1)) if c.startswith("id:")
    ]
    assert [e.split("\n")[0] for e in resumed] == [f"id: {i}" for i in ids[2:]]
    await redis.delete(key)


async def test_relay_waits_with_heartbeats_then_delivers_live_events(redis, hub):
    reply = uuid.uuid4().hex
    queued = await redis.xadd(reply_key(reply), {"event": STATUS, "data": '{"state":"queued"}'})
    gen = sse_relay.relay(hub, reply, queued, heartbeat_s=0.1)
    assert (await anext(gen)).startswith("retry:")
    assert await anext(gen) == ": heartbeat\n\n"

    async def later():
        await asyncio.sleep(0.05)
        await redis.xadd(reply_key(reply), {"event": FAILED, "data": '{"code":"x","message":"y"}'})

    task = asyncio.create_task(later())
    chunks = [c async for c in gen]
    await task
    assert chunks[-1].startswith("id: ") and "event: failed" in chunks[-1]
    await redis.delete(reply_key(reply))


async def test_an_expired_stream_ends_at_once_with_failed(redis, hub):
    chunks = [c async for c in sse_relay.relay(hub, uuid.uuid4().hex, "0-0", heartbeat_s=5)]
    assert chunks[-1].startswith("id: 0-1\nevent: failed\n") and "reply_expired" in chunks[-1]


async def test_a_legacy_error_entry_is_relayed_as_failed_never_as_error(redis, hub):
    reply = uuid.uuid4().hex
    await redis.xadd(reply_key(reply), {"event": "error", "data": '{"code":"x","message":"y"}'})
    chunks = [c async for c in sse_relay.relay(hub, reply, "0-0", heartbeat_s=1)]
    assert chunks[0] == f"retry: {sse_relay.RETRY_MS}\n\n"
    assert "event: failed\n" in chunks[-1] and not any("event: error" in c for c in chunks)
    await redis.delete(reply_key(reply))


async def test_finished_for_only_when_the_client_saw_the_last_event(redis):
    reply = uuid.uuid4().hex
    key = reply_key(reply)
    queued = await redis.xadd(key, {"event": STATUS, "data": "{}"})
    token = await redis.xadd(key, {"event": TOKEN, "data": '{"delta":"a"}'})
    # Still running: never finished, whatever the client saw.
    assert not await sse_relay.finished_for(redis, reply, token)
    done = await redis.xadd(key, {"event": DONE, "data": "{}"})
    assert await sse_relay.finished_for(redis, reply, done)
    for earlier in (None, "", "garbage", queued, token):
        assert not await sse_relay.finished_for(redis, reply, earlier), earlier
    # The `reply_expired` event's id, and a stream that vanished after the client saw it.
    assert await sse_relay.finished_for(redis, reply, sse_relay.EXPIRED_ID)
    assert not await sse_relay.finished_for(redis, uuid.uuid4().hex, done)
    await redis.delete(key)


async def test_the_open_stream_gauge_counts_relays_until_they_end(redis, hub):
    reply = uuid.uuid4().hex
    await redis.xadd(reply_key(reply), {"event": STATUS, "data": "{}"})
    before = sse_relay.OPEN_STREAMS._value.get()
    gen = sse_relay.relay(hub, reply, "0-0", heartbeat_s=0.05)
    await anext(gen)
    await anext(gen)
    assert sse_relay.OPEN_STREAMS._value.get() == before + 1
    await gen.aclose()
    assert sse_relay.OPEN_STREAMS._value.get() == before
    await redis.delete(reply_key(reply))
