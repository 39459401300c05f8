"""Delivery counts of records outside the consumer, so they survive the crash of the consumer they
are counting: one document (MongoDB, `kafka_deliveries`) or one key (Redis,
`kafkadeliveries:{record}`) per record being handled, removed when it finishes.

Redis costs a fraction of a millisecond per count; FerretDB's `findAndModify` about 5 ms of its
CPU, on the path to the first token of every chat turn (docs/performance.md). Redis counts survive
what the services need Redis for anyway (its AOF, as deployed); a count lost with Redis's data
only gives a poison record up to `max_deliveries` more tries."""

from datetime import UTC, datetime

import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

COLLECTION = "kafka_deliveries"


def record_key(group: str, record: ConsumerRecord) -> str:
    return f"{group}/{record.topic}/{record.partition}/{record.offset}"


class MongoDeliveryCounter:
    def __init__(self, collection: AsyncCollection) -> None:
        self.col = collection

    async def begin(self, group: str, record: ConsumerRecord) -> int:
        doc = await self.col.find_one_and_update(
            {"_id": record_key(group, record)},
            {"$inc": {"deliveries": 1}, "$set": {"last_delivered_at": datetime.now(UTC)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["deliveries"])

    async def end(self, group: str, record: ConsumerRecord) -> None:
        await self.col.delete_one({"_id": record_key(group, record)})


# Far longer than any record is in progress; only a count whose `end` never came expires.
REDIS_COUNT_TTL_S = 86400


class RedisDeliveryCounter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    @staticmethod
    def key(group: str, record: ConsumerRecord) -> str:
        return f"kafkadeliveries:{record_key(group, record)}"

    async def begin(self, group: str, record: ConsumerRecord) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(self.key(group, record))
            pipe.expire(self.key(group, record), REDIS_COUNT_TTL_S)
            count, _ = await pipe.execute()
        return int(count)

    async def end(self, group: str, record: ConsumerRecord) -> None:
        await self.redis.delete(self.key(group, record))
