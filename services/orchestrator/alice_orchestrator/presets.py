"""Presets: named chat settings (model, system prompt, temperature, max tokens) a user saves and
applies to conversations; an admin's published preset is listed for everyone, read-only for all
but its author (docs/decisions/0066-model-picker-and-presets.md).

Look-ups filter on `_id` alone and check the owner after (see `store._owned`)."""

from datetime import UTC, datetime

from alice_common.ids import new_id
from alice_common.wire import ChatSettings, Preset, PresetChanges, PresetIn
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

# Presets one user may keep: a list for a picker, not a store.
MAX_PRESETS_PER_USER = 100
MAX_PUBLISHED = 100


def preset_of(doc: dict, user_id: str) -> Preset:
    return Preset(
        id=doc["_id"],
        name=doc["name"],
        settings=ChatSettings(**doc.get("settings", {})),
        published=bool(doc.get("published")),
        mine=doc["user_id"] == user_id,
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class PresetStore:
    def __init__(self, presets: AsyncCollection):
        self.presets = presets

    async def ensure_indexes(self) -> None:
        await self.presets.create_index([("user_id", ASCENDING), ("name", ASCENDING)])
        await self.presets.create_index("published", sparse=True)

    async def visible(self, user_id: str) -> list[dict]:
        """The user's own presets by name, then the ones others published, by name."""
        own = self.presets.find({"user_id": user_id}).sort([("name", ASCENDING), ("_id", ASCENDING)])
        mine = await own.to_list(MAX_PRESETS_PER_USER)
        others = self.presets.find({"published": True, "user_id": {"$ne": user_id}})
        published = await others.sort([("name", ASCENDING), ("_id", ASCENDING)]).to_list(MAX_PUBLISHED)
        return mine + published

    async def count(self, user_id: str) -> int:
        return await self.presets.count_documents({"user_id": user_id})

    async def get_visible(self, user_id: str, preset_id: str) -> dict | None:
        """The preset if the user may see it: theirs, or published."""
        doc = await self.presets.find_one({"_id": preset_id})
        if doc is None or (doc["user_id"] != user_id and not doc.get("published")):
            return None
        return doc

    async def create(self, user_id: str, preset: PresetIn) -> dict:
        now = datetime.now(UTC)
        doc = {
            "_id": new_id(),
            "user_id": user_id,
            "name": preset.name,
            "settings": preset.settings.model_dump(exclude_none=True),
            "published": preset.published,
            "created_at": now,
            "updated_at": now,
        }
        await self.presets.insert_one(doc)
        return doc

    async def update(self, preset_id: str, changes: PresetChanges) -> dict | None:
        """For a preset whose owner the caller has checked."""
        fields = changes.model_dump(exclude_none=True, exclude={"settings"})
        if changes.settings is not None:
            fields["settings"] = changes.settings.model_dump(exclude_none=True)
        fields["updated_at"] = datetime.now(UTC)
        return await self.presets.find_one_and_update(
            {"_id": preset_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )

    async def delete(self, preset_id: str) -> bool:
        result = await self.presets.delete_one({"_id": preset_id})
        return result.deleted_count == 1

    async def delete_user(self, user_id: str) -> None:
        await self.presets.delete_many({"user_id": user_id})
