"""Deleted accounts (docs/decisions/0059-delete-my-data.md): the tombstones every writer checks,
and the purge of a user's Redis keys.

A tombstone is `deleted_users/{sha256(user id)}`: it outlives the purge (a late event of the user
must still find it) without itself holding the id that "nothing remains" is about. The backend
writes it before it publishes `UserDeleted`; each consumer writes it again before purging, so a
redelivered or reordered event finds it either way.
"""

import hashlib

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase

from alice_common.events import utcnow
from alice_common.mongo import replace_by_id
from alice_common.reply_stream import cancel_key, reply_key, reply_meta_key

COLLECTION = "deleted_users"
SCAN_BATCH = 500


def tombstone_id(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()


async def record(db: AsyncDatabase, user_id: str) -> None:
    await replace_by_id(db[COLLECTION], tombstone_id(user_id), {"deleted_at": utcnow()})


async def is_deleted(db: AsyncDatabase, user_id: str) -> bool:
    found = await db[COLLECTION].find_one({"_id": tombstone_id(user_id)}, {"_id": 1})
    return found is not None


async def purge_redis(redis: aioredis.Redis, user_id: str) -> int:
    """Delete every key named after the user (rate limits, idempotency records, slots) and every
    reply whose metadata names them as owner (`replymeta:`, `reply:`, `cancel:`). A whole-keyspace
    SCAN: account deletion is rare, and it finds keys no list of prefixes would remember."""
    doomed: set[str] = set()
    async for key in redis.scan_iter(match=f"*{user_id}*", count=SCAN_BATCH):
        doomed.add(key)
    async for key in redis.scan_iter(match=reply_meta_key("*"), count=SCAN_BATCH):
        if await redis.hget(key, "user_id") == user_id:
            reply_id = key.removeprefix(reply_meta_key(""))
            doomed |= {key, reply_key(reply_id), cancel_key(reply_id)}
    if doomed:
        await redis.delete(*doomed)
    return len(doomed)
