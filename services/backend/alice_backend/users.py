"""The `users` collection (owned by the backend). Emails are unique case-insensitively via `email_lower`.

`is_admin` is granted out of band (`python -m alice_backend admin grant EMAIL`), never by what an
account says about itself: an unverified e-mail address proves nothing."""

from datetime import UTC, datetime
from typing import Any, Literal

from alice_common.events import new_id
from pydantic import BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Theme = Literal["system", "light", "dark"]


class UserSettings(BaseModel):
    memory_enabled: bool = True
    theme: Theme = "system"
    default_model: str | None = Field(default=None, description="the model of new conversations")
    default_preset_id: str | None = Field(
        default=None, description="the preset applied to new conversations (before `default_model`)"
    )


class User(BaseModel):
    """An account as routes see it: the stored document without its password hash."""

    id: str
    email: str
    display_name: str
    created_at: datetime
    is_admin: bool
    settings: UserSettings

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "User":
        return cls(
            id=doc["_id"],
            email=doc["email"],
            display_name=doc.get("display_name") or "",
            created_at=doc["created_at"],
            is_admin=bool(doc.get("is_admin")),
            settings=doc.get("settings") or {},
        )


class EmailTaken(Exception):
    pass


class Users:
    def __init__(self, db: AsyncDatabase):
        self.collection = db["users"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("email_lower", unique=True, name="email_lower_unique")
        # The account-deletion sweeper's query, every minute on every replica: only marked accounts.
        await self.collection.create_index("deletion_requested_at", sparse=True, name="deletion_requested_at")

    async def create(
        self, email: str, email_key: str, password_hash: str | None, display_name: str
    ) -> dict[str, Any]:
        """`email` as the user wrote it (for display), `email_key` its canonical form (unique);
        no `password_hash` for an account made by single sign-on (it has no password)."""
        doc = {
            "_id": new_id(),
            "email": email,
            "email_lower": email_key,
            "password_hash": password_hash,
            "display_name": display_name,
            "created_at": datetime.now(UTC),
            "settings": {"memory_enabled": True},
            "is_admin": False,
        }
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise EmailTaken(email) from exc
        return doc

    async def by_email(self, email_key: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"email_lower": email_key})

    async def by_id(self, user_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": user_id})

    async def update(self, user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        if changes:
            await self.collection.update_one({"_id": user_id}, {"$set": changes})
        return await self.by_id(user_id)

    async def set_admin(self, email_key: str, is_admin: bool) -> dict[str, Any] | None:
        """Grant or revoke admin rights; None when no account has this email."""
        result = await self.collection.update_one(
            {"email_lower": email_key}, {"$set": {"is_admin": is_admin}}
        )
        return await self.by_email(email_key) if result.matched_count else None

    async def admins(self) -> list[dict[str, Any]]:
        return await self.collection.find({"is_admin": True}, {"email": 1}).to_list(length=1000)

    async def delete(self, user_id: str) -> None:
        await self.collection.delete_one({"_id": user_id})
