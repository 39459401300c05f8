"""The `documents` collection: one record per upload, with its indexing status and progress."""

from alice_common import deleted_users
from alice_common.events import utcnow
from alice_common.wire import StoredDocument
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

QUEUED, PROCESSING, INDEXED, FAILED = "queued", "processing", "indexed", "failed"


def to_public(doc: dict) -> StoredDocument:
    fields = {k: doc.get(k) for k in StoredDocument.model_fields if k != "id"}
    if doc.get("status") != QUEUED:
        fields["position"] = None  # a place in line only means something while waiting
    return StoredDocument(id=doc["_id"], **fields)


class DocumentStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.col = db["documents"]

    async def ensure_indexes(self) -> None:
        await self.col.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
        await self.col.create_index([("user_id", ASCENDING), ("conversation_id", ASCENDING)])

    async def register(
        self,
        user_id: str,
        document_id: str,
        filename: str,
        content_type: str,
        size: int,
        blob_id: str,
        conversation_id: str | None = None,
    ) -> tuple[dict, bool]:
        """Create the record (status queued); registering the same id again returns it unchanged.
        Returns (record, created); the record is None if the id belongs to another user."""
        now = utcnow()
        doc = {
            "_id": document_id, "user_id": user_id, "filename": filename, "content_type": content_type,
            "size": size, "blob_id": blob_id, "status": QUEUED, "progress": 0, "chunks": 0, "error": None,
            "permanent": False, "conversation_id": conversation_id, "created_at": now, "updated_at": now,
        }  # fmt: skip
        try:
            await self.col.insert_one(doc)
            return doc, True
        except DuplicateKeyError:
            existing = await self.col.find_one({"_id": document_id})
            if existing is None or existing["user_id"] != user_id:
                return None, False
            return existing, False

    async def owner_deleted(self, user_id: str) -> bool:
        return await deleted_users.is_deleted(self.col.database, user_id)

    async def get(self, user_id: str, document_id: str) -> dict | None:
        return await self.col.find_one({"_id": document_id, "user_id": user_id})

    async def get_any(self, document_id: str) -> dict | None:
        return await self.col.find_one({"_id": document_id})

    async def list(self, user_id: str, conversation_id: str | None = None, limit: int = 500) -> list[dict]:
        """The library (records without a conversation), or one conversation's attachments."""
        query = {"user_id": user_id, "conversation_id": conversation_id}
        cursor = self.col.find(query).sort("created_at", DESCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    async def move_to_library(self, user_id: str, document_id: str) -> bool:
        result = await self.col.update_one(
            {"_id": document_id, "user_id": user_id},
            {"$set": {"conversation_id": None, "updated_at": utcnow()}},
        )
        return result.matched_count == 1

    async def update(self, document_id: str, **fields) -> bool:
        """False when the record is gone (deleted meanwhile)."""
        fields["updated_at"] = utcnow()
        result = await self.col.update_one({"_id": document_id}, {"$set": fields})
        return result.matched_count == 1

    async def fail(self, document_id: str, reason: str, permanent: bool) -> bool:
        return await self.update(document_id, status=FAILED, error=reason, permanent=permanent, position=None)

    async def delete(self, user_id: str, document_id: str) -> bool:
        result = await self.col.delete_one({"_id": document_id, "user_id": user_id})
        return result.deleted_count == 1

    async def delete_user(self, user_id: str) -> None:
        await self.col.delete_many({"user_id": user_id})
