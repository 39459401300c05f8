"""The backend's one reader of reply streams, against a real Redis."""

import asyncio
import time
import uuid

import pytest
from alice_backend.replies import sse_relay
from alice_backend.replies.shared_reader import ReplyHub
from alice_common.reply_stream import DONE, STATUS, TOKEN, ReplyStream, reply_key


@pytest.fixture
async def hub(infra):
    hub = ReplyHub(infra.redis_url, block_s=10, buffer_limit=3)
    yield hub
    await hub.aclose()


async def _events(gen) -> list[str]:
    return [c.split("\n")[1] async for c in gen if c.startswith("id:")]


async def _blocked_readers(redis, hub: ReplyHub) -> list[dict]:
    return [c for c in await redis.client_list() if c.get("name") == f"alice-relay-{hub.instance}"]


async def test_many_relays_share_one_connection_and_each_gets_its_own_events(redis, hub):
    replies = [uuid.uuid4().hex for _ in range(20)]
    for reply in replies:
        await ReplyStream(redis, reply).add(STATUS, {"state": "queued"})
    relays = [asyncio.create_task(_events(sse_relay.relay(hub, r, "0-0", heartbeat_s=5))) for r in replies]
    await asyncio.sleep(0.2)
    assert len(await _blocked_readers(redis, hub)) == 1
    for i, reply in enumerate(replies):
        await ReplyStream(redis, reply).add(TOKEN, {"delta": str(i)})
        await ReplyStream(redis, reply).add(DONE, {"message": {}})
    results = await asyncio.wait_for(asyncio.gather(*relays), 5)
    assert results == [["event: status", "event: token", "event: done"]] * 20
    for reply in replies:
        await redis.delete(reply_key(reply))


async def test_a_new_client_does_not_wait_for_the_readers_blocking_read(redis, hub):
    idle = uuid.uuid4().hex
    await ReplyStream(redis, idle).add(STATUS, {"state": "queued"})
    waiting = asyncio.create_task(_events(sse_relay.relay(hub, idle, "0-0", heartbeat_s=30)))
    await asyncio.sleep(0.3)  # the reader is now blocked on `idle` for up to 10 s
    finished = uuid.uuid4().hex
    stream = ReplyStream(redis, finished)
    await stream.add(STATUS, {"state": "queued"})
    await stream.add(DONE, {"message": {}})
    started = time.monotonic()
    assert await _events(sse_relay.relay(hub, finished, "0-0", heartbeat_s=30)) == [
        "event: status",
        "event: done",
    ]
    assert time.monotonic() - started < 2
    await ReplyStream(redis, idle).add(DONE, {"message": {}})
    assert await asyncio.wait_for(waiting, 5) == ["event: status", "event: done"]
    await redis.delete(reply_key(idle), reply_key(finished))


async def test_a_slow_client_gets_every_event_in_order_with_a_bounded_buffer(redis, hub):
    reply = uuid.uuid4().hex
    stream = ReplyStream(redis, reply)
    ids = [await stream.add(TOKEN, {"delta": str(i)}) for i in range(10)]
    ids.append(await stream.add(DONE, {"message": {}}))
    seen = []
    async for entry_id, _event, _data in sse_relay.entries(hub, reply, "0-0", heartbeat_s=5):
        assert all(len(s.entries) <= 3 for subs in hub._subs.values() for s in subs)
        seen.append(entry_id)
        await asyncio.sleep(0.01)
    assert seen == ids
    await redis.delete(reply_key(reply))


async def test_a_lost_reader_connection_is_replaced_and_the_relays_go_on(redis, hub):
    reply = uuid.uuid4().hex
    await ReplyStream(redis, reply).add(STATUS, {"state": "queued"})
    relay = asyncio.create_task(_events(sse_relay.relay(hub, reply, "0-0", heartbeat_s=30)))
    await asyncio.sleep(0.3)
    [reader] = await _blocked_readers(redis, hub)
    await redis.execute_command("CLIENT", "KILL", "ID", reader["id"])
    await asyncio.sleep(0.3)
    await ReplyStream(redis, reply).add(DONE, {"message": {}})
    assert await asyncio.wait_for(relay, 5) == ["event: status", "event: done"]
    await redis.delete(reply_key(reply))


async def test_after_redis_dropped_every_connection_a_finished_reply_replays_whole(redis, hub):
    """As after a Redis restart: every connection the hub holds is dead. The next relay still
    delivers the whole reply (a broken connection is retried once on a fresh one)."""
    reply = uuid.uuid4().hex
    stream = ReplyStream(redis, reply)
    await stream.add(TOKEN, {"delta": "Hi"})
    await stream.add(DONE, {"message": {"content": "Hi"}})
    assert await _events(sse_relay.relay(hub, reply, "0-0", heartbeat_s=5)) == ["event: token", "event: done"]
    own = {await hub.redis.client_id(), await hub._reader.client_id()}
    for client in own:
        await redis.execute_command("CLIENT", "KILL", "ID", client)
    assert await _events(sse_relay.relay(hub, reply, "0-0", heartbeat_s=5)) == ["event: token", "event: done"]
    await redis.delete(reply_key(reply))
