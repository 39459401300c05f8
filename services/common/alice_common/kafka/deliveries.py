"""Delivery counts of records in MongoDB (`kafka_deliveries`), so they survive the crash of the
consumer they are counting: one document per record being handled, removed when it finishes."""

from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord
from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo import ReturnDocument

COLLECTION = "kafka_deliveries"


def record_key(group: str, record: ConsumerRecord) -> str:
    return f"{group}/{record.topic}/{record.partition}/{record.offset}"


class MongoDeliveryCounter:
    def __init__(self, collection: AsyncIOMotorCollection) -> None:
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
