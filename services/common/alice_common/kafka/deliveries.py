"""Delivery counts of records outside the consumer, so they survive the crash of the consumer they
are counting: one document (MongoDB, `kafka_deliveries`) or one hash (Redis,
`kafkainflight:{record}`) per record being handled, removed when it finishes.

Per record and group: `deliveries`, the deliveries that did not finish (the current one included),
and `solo`, the attempts it made ALONE (`kafka/isolation.py`) that did not finish. A delivery given
back on a graceful stop or revoke is taken off again (`give_back`): it crashed nothing.

Redis costs a fraction of a millisecond per count; FerretDB's `findAndModify` about 5 ms of its
CPU, on the path to the first token of every chat turn (docs/performance.md). Either way the
ordinary record costs one round trip before its handler and one after; only a suspect pays one
more (`begin_solo`). Redis counts survive what the services need Redis for anyway (its AOF, as
deployed); counts lost with Redis's data only give a poison record up to `max_solo_crashes` + 1
more crashes."""

from datetime import UTC, datetime

import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from alice_common.kafka.isolation import Deliveries

COLLECTION = "kafka_deliveries"


def record_key(group: str, record: ConsumerRecord) -> str:
    return f"{group}/{record.topic}/{record.partition}/{record.offset}"


class MongoDeliveryCounter:
    def __init__(self, collection: AsyncCollection) -> None:
        self.col = collection

    async def begin(self, group: str, record: ConsumerRecord) -> Deliveries:
        doc = await self.col.find_one_and_update(
            {"_id": record_key(group, record)},
            {"$inc": {"deliveries": 1}, "$set": {"last_delivered_at": datetime.now(UTC)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Deliveries(int(doc["deliveries"]), int(doc.get("solo", 0)))

    async def begin_solo(self, group: str, record: ConsumerRecord) -> None:
        await self.col.update_one({"_id": record_key(group, record)}, {"$inc": {"solo": 1}}, upsert=True)

    async def end(self, group: str, record: ConsumerRecord) -> None:
        await self.col.delete_one({"_id": record_key(group, record)})

    async def give_back(self, group: str, record: ConsumerRecord, solo: bool) -> None:
        undo = {"deliveries": -1, **({"solo": -1} if solo else {})}
        doc = await self.col.find_one_and_update(
            {"_id": record_key(group, record)}, {"$inc": undo}, return_document=ReturnDocument.AFTER
        )
        if doc is not None and int(doc["deliveries"]) <= 0:
            await self.col.delete_one({"_id": record_key(group, record), "deliveries": {"$lte": 0}})


# Far longer than any record is in progress; only a count whose `end` never came expires.
REDIS_COUNT_TTL_S = 86400


class RedisDeliveryCounter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(group: str, record: ConsumerRecord) -> str:
        return f"kafkainflight:{record_key(group, record)}"

    async def begin(self, group: str, record: ConsumerRecord) -> Deliveries:
        key = self.key(group, record)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "deliveries", 1)
            pipe.hget(key, "solo")
            pipe.expire(key, REDIS_COUNT_TTL_S)
            deliveries, solo, _ = await pipe.execute()
        return Deliveries(int(deliveries), int(solo or 0))

    async def begin_solo(self, group: str, record: ConsumerRecord) -> None:
        key = self.key(group, record)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "solo", 1)
            pipe.expire(key, REDIS_COUNT_TTL_S)
            await pipe.execute()

    async def end(self, group: str, record: ConsumerRecord) -> None:
        await self.redis.delete(self.key(group, record))

    async def give_back(self, group: str, record: ConsumerRecord, solo: bool) -> None:
        key = self.key(group, record)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "deliveries", -1)
            if solo:
                pipe.hincrby(key, "solo", -1)
            left = (await pipe.execute())[0]
        if int(left) <= 0:  # one consumer handles a record at a time: nothing races this
            await self.redis.delete(key)
