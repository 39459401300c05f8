"""`users.deleted` in the orchestrator: the user's conversations, messages (with their feedback),
context caches and reply keys go, another user's stay; twice is the same as once. Real MongoDB
and Redis."""

from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from alice_common import deleted_users
from alice_common.events import UserDeleted
from alice_common.reply_stream import reply_key, reply_meta_key
from alice_orchestrator.recent_turns import RecentTurns, ctx_key
from alice_orchestrator.store import ChatStore
from alice_orchestrator.user_deletions import UserDeletions
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(infra, unique_name):
    mongo = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    db = mongo[unique_name("orchpurge")]
    store = ChatStore(db)
    yield db, store, redis, UserDeletions(db, store, RecentTurns(redis, store), redis)
    await mongo.drop_database(db.name)
    await mongo.close()
    await redis.aclose()


async def chat_of(store: ChatStore, redis, user_id: str, cid: str, rid: str) -> None:
    await store.create_conversation(user_id, cid, "t")
    now = datetime.now(UTC)
    for mid, role in ((f"{cid}-u", "user"), (rid, "assistant")):
        doc = {"_id": mid, "conversation_id": cid, "user_id": user_id, "role": role, "content": "hi"}
        await store.insert_message(doc | {"created_at": now, "feedback": {"rating": "up"}})
    conversation = await store.get_conversation(user_id, cid)
    await store.shares.create(
        user_id, conversation, f"{rid}-sha", [{"role": "user", "content": "hi", "created_at": now}]
    )
    await redis.rpush(ctx_key(cid), "turn")
    await redis.hset(reply_meta_key(rid), mapping={"user_id": user_id, "conversation_id": cid})
    await redis.xadd(reply_key(rid), {"event": "done", "data": "{}"})


async def test_purges_the_users_chats_and_keeps_the_others(world, unique_name):
    db, store, redis, deletions = world
    alice, bob = unique_name("alice"), unique_name("bob")
    await chat_of(store, redis, alice, f"{alice}-c1", f"{alice}-r1")
    await chat_of(store, redis, alice, f"{alice}-c2", f"{alice}-r2")
    await chat_of(store, redis, bob, f"{bob}-c1", f"{bob}-r1")
    await redis.set(f"rl:{alice}:send", 1)

    event = UserDeleted(user_id=alice)
    for _ in range(2):  # a redelivery finds nothing left and fails on nothing
        await deletions.handle(event, None)

    assert await db["conversations"].count_documents({"user_id": alice}) == 0
    assert await db["messages"].count_documents({"user_id": alice}) == 0
    assert await store.shares.read(f"{alice}-r1-sha") is None
    assert await store.shares.read(f"{bob}-r1-sha") is not None
    gone = (ctx_key(f"{alice}-c1"), reply_meta_key(f"{alice}-r2"), reply_key(f"{alice}-r1"))
    assert not await redis.exists(f"rl:{alice}:send")
    assert await redis.exists(*gone) == 0
    assert await deleted_users.is_deleted(db, alice)
    assert await db["conversations"].count_documents({"user_id": bob}) == 1
    assert await db["messages"].count_documents({"user_id": bob, "feedback.rating": "up"}) == 2
    assert await redis.exists(ctx_key(f"{bob}-c1"), reply_meta_key(f"{bob}-r1"), reply_key(f"{bob}-r1")) == 3
    for key in (ctx_key(f"{bob}-c1"), reply_meta_key(f"{bob}-r1"), reply_key(f"{bob}-r1")):
        await redis.delete(key)
