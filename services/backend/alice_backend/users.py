"""The `users` collection (owned by the backend). Emails are unique case-insensitively via `email_lower`."""

from datetime import UTC, datetime
from typing import Any

from alice_common.events import new_id
from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError


class EmailTaken(Exception):
    pass


class Users:
    def __init__(self, db: AsyncIOMotorDatabase):
        self.collection = db["users"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("email_lower", unique=True, name="email_lower_unique")

    async def create(self, email: str, password_hash: str, display_name: str) -> dict[str, Any]:
        doc = {
            "_id": new_id(),
            "email": email,
            "email_lower": email.lower(),
            "password_hash": password_hash,
            "display_name": display_name,
            "created_at": datetime.now(UTC),
            "settings": {"memory_enabled": True},
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise EmailTaken(email) from exc
        return doc

    async def by_email(self, email: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"email_lower": email.lower()})

    async def by_id(self, user_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": user_id})

    async def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        if changes:
            await self.collection.update_one({"_id": user_id}, {"$set": changes})
        return await self.by_id(user_id)
