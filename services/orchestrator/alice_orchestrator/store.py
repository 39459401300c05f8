"""MongoDB access for the collections the orchestrator owns: `conversations` and `messages`.

Every query carries `user_id`, so one user's call can never touch another's documents. Ids are
uuid4 hex strings in `_id`; inserts are idempotent by `_id` (a duplicate key means "already there").
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from alice_common.wire import ChatSettings, Conversation, Message
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from alice_orchestrator.feedback import FeedbackStore
from alice_orchestrator.presets import PresetStore
from alice_orchestrator.shares import ShareStore
from alice_orchestrator.tree import SKELETON

# The messages of a conversation its tree is built from (as many as an export holds).
MAX_TREE_MESSAGES = 10_000

# Fields of imported conversations: the key of what was imported (`archive.import_key`), and a
# flag while its messages have not been handed to search and memory yet.
IMPORT_KEY = "import_key"
INDEX_PENDING = "index_pending"


def utcnow() -> datetime:
    return datetime.now(UTC)


def conversation_of(doc: dict) -> Conversation:
    return Conversation(
        id=doc["_id"],
        title=doc.get("title"),
        pinned=bool(doc.get("pinned")),
        archived=bool(doc.get("archived")),
        settings=ChatSettings(**doc.get("settings") or {}),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


@dataclass(frozen=True)
class ListPosition:
    """Where a page of the conversation list ends: the list is the pinned conversations, then the
    others, each most recently updated first (ties by `_id`). `id` None: every one updated then."""

    pinned: bool
    updated_at: datetime
    id: str | None = None

    @classmethod
    def of(cls, conversation: dict) -> "ListPosition":
        return cls(bool(conversation.get("pinned")), conversation["updated_at"], conversation["_id"])

    def after(self) -> dict:
        """The filter for the conversations listed after this position within its group."""
        if self.id is None:
            return {"updated_at": {"$lt": self.updated_at}}
        return {
            "$or": [
                {"updated_at": {"$lt": self.updated_at}},
                {"updated_at": self.updated_at, "_id": {"$lt": self.id}},
            ]
        }


def message_of(doc: dict) -> Message:
    return Message(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        role=doc["role"],
        content=doc.get("content", ""),
        status=doc.get("status", "completed"),
        created_at=doc["created_at"],
        reply_id=doc.get("reply_id"),
        reply_to=doc.get("reply_to"),
        parent_id=doc.get("parent_id", doc.get("reply_to")),
        sources=doc.get("sources") or [],
        attachments=doc.get("attachments") or [],
        usage=doc.get("usage") or None,
        model=doc.get("model"),
        feedback=doc.get("feedback"),
        finish_reason=doc.get("finish_reason"),
        left_out_turns=doc.get("left_out_turns") or None,
    )


class ChatStore:
    def __init__(self, db: AsyncDatabase):
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self.feedback = FeedbackStore(self.messages)
        self.shares = ShareStore(db["shares"])
        self.presets = PresetStore(db["presets"])

    async def ensure_indexes(self) -> None:
        await self.messages.create_index([("conversation_id", ASCENDING), ("created_at", ASCENDING)])
        await self.conversations.create_index([("user_id", ASCENDING), ("updated_at", DESCENDING)])
        await self.shares.shares.create_index([("user_id", ASCENDING), ("conversation_id", ASCENDING)])
        await self.presets.ensure_indexes()
        # Sparse: only imported conversations have a key; unique: the same export imported twice
        # by the same user, even at the same time, is stored once (decision 0060).
        await self.conversations.create_index(IMPORT_KEY, unique=True, sparse=True, name="import_key_unique")

    # -- conversations -------------------------------------------------------------------------
    async def create_conversation(
        self, user_id: str, conversation_id: str, title: str | None, settings: dict | None = None
    ) -> dict:
        now = utcnow()
        doc = {"_id": conversation_id, "user_id": user_id, "title": title}
        if settings:
            doc["settings"] = settings
        doc |= {"created_at": now, "updated_at": now}
        try:
            await self.conversations.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.get_conversation(user_id, conversation_id)
            if existing is None:
                raise
            return existing
        return doc

    async def get_conversation(self, user_id: str, conversation_id: str) -> dict | None:
        return _owned(await self.conversations.find_one({"_id": conversation_id}), user_id)

    async def list_conversations(
        self, user_id: str, limit: int, after: ListPosition | None = None, archived: bool = False
    ) -> list[dict]:
        """Up to `limit` conversations after `after`: pinned ones first (see `ListPosition`), the
        archived ones only when `archived` (and then only those)."""
        scope: dict = {"user_id": user_id, "archived": True if archived else {"$ne": True}}
        items: list[dict] = []
        if after is None or after.pinned:
            items = await self._recent_first({**scope, "pinned": True}, after, limit)
        if len(items) < limit:
            unpinned_after = after if after is not None and not after.pinned else None
            unpinned = {**scope, "pinned": {"$ne": True}}
            items += await self._recent_first(unpinned, unpinned_after, limit - len(items))
        return items

    async def _recent_first(self, query: dict, after: ListPosition | None, limit: int) -> list[dict]:
        if after is not None:
            query = {**query, **after.after()}
        cursor = self.conversations.find(query).sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.limit(limit).to_list(limit)

    async def update_conversation(
        self, user_id: str, conversation_id: str, changes: dict, *, touch: bool = True
    ) -> dict | None:
        """`touch`: the change counts as activity (moves the conversation up the list)."""
        # Owner first, then by `_id` alone (see `_owned`); a conversation never changes owner.
        if await self.get_conversation(user_id, conversation_id) is None:
            return None
        if touch:
            changes = {**changes, "updated_at": utcnow()}
        return await self.conversations.find_one_and_update(
            {"_id": conversation_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )

    async def conversation_by_id(self, conversation_id: str) -> dict | None:
        """Unscoped: only for checking a request's conversation belongs to its user."""
        return await self.conversations.find_one({"_id": conversation_id})

    async def conversation_owner(self, conversation_id: str) -> str | None:
        doc = await self.conversation_by_id(conversation_id)
        return None if doc is None else doc["user_id"]

    async def touch_conversation(self, conversation_id: str, current_leaf: str | None = None) -> None:
        """For a conversation whose owner the caller has checked: a plain update (nobody reads
        the document back), filtered on `_id` alone so that the store uses its index.
        `current_leaf`: where the branch shown now goes through (`tree.py`)."""
        changes: dict = {"updated_at": utcnow()}
        if current_leaf is not None:
            changes["current_leaf"] = current_leaf
        await self.conversations.update_one({"_id": conversation_id}, {"$set": changes})

    async def set_title_if_empty(self, user_id: str, conversation_id: str, title: str) -> bool:
        result = await self.conversations.update_one(
            {"_id": conversation_id, "user_id": user_id, "title": {"$in": [None, ""]}},
            {"$set": {"title": title}},
        )
        return result.modified_count == 1

    async def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        if await self.get_conversation(user_id, conversation_id) is None:
            return False
        # Links first: were the rest to fail, the conversation stays (a retry is safe) but no
        # link still shows it.
        await self.shares.remove_conversation(user_id, conversation_id)
        result = await self.conversations.delete_one({"_id": conversation_id})
        if result.deleted_count == 0:
            return False
        await self.delete_messages(user_id, conversation_id)
        return True

    async def delete_messages(self, user_id: str, conversation_id: str) -> None:
        await self.messages.delete_many({"conversation_id": conversation_id, "user_id": user_id})

    async def conversation_ids(self, user_id: str) -> list[str]:
        return [doc["_id"] async for doc in self.conversations.find({"user_id": user_id}, {"_id": 1})]

    async def delete_user(self, user_id: str) -> None:
        """Every shared link, preset, conversation and message (feedback is kept on them) of the user. The
        links first, so none answers while the rest goes; conversations before messages, as for
        one conversation (decision 0026): a reply stored after this sees its conversation gone and
        takes itself back; one stored before is deleted below."""
        await self.shares.remove_user(user_id)
        await self.presets.delete_user(user_id)
        await self.conversations.delete_many({"user_id": user_id})
        await self.messages.delete_many({"user_id": user_id})

    async def count_conversations(self, user_id: str) -> int:
        return await self.conversations.count_documents({"user_id": user_id})

    async def oldest_first(self, user_id: str, limit: int, after: dict | None = None) -> list[dict]:
        """Up to `limit` of the user's conversations (archived ones too) created after `after` (a
        conversation), oldest first: a listing that activity meanwhile does not reorder."""
        query: dict = {"user_id": user_id}
        if after is not None:
            query["$or"] = [
                {"created_at": {"$gt": after["created_at"]}},
                {"created_at": after["created_at"], "_id": {"$gt": after["_id"]}},
            ]
        cursor = self.conversations.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.limit(limit).to_list(limit)

    async def insert_conversation(self, conversation: dict, messages: list[dict]) -> None:
        """A whole conversation at once (an import): its messages first, so that it is listed only
        once complete. Raises `DuplicateKeyError`, with its messages taken back, when a conversation
        with the same import key is stored already."""
        if messages:
            await self.messages.insert_many(messages)
        try:
            await self.conversations.insert_one(conversation)
        except DuplicateKeyError:
            await self.remove_conversations(conversation["user_id"], [conversation["_id"]])
            raise

    async def imported_conversations(self, user_id: str, keys: list[str]) -> dict[str, dict]:
        """The user's conversations imported under any of `keys`, by key."""
        cursor = self.conversations.find({"user_id": user_id, IMPORT_KEY: {"$in": keys}})
        return {doc[IMPORT_KEY]: doc async for doc in cursor}

    async def set_indexed(self, user_id: str, conversation_ids: list[str]) -> None:
        await self.conversations.update_many(
            {"_id": {"$in": conversation_ids}, "user_id": user_id}, {"$unset": {INDEX_PENDING: ""}}
        )

    async def remove_conversations(self, user_id: str, conversation_ids: list[str]) -> None:
        """Takes back what `insert_conversation` wrote, even partly."""
        await self.messages.delete_many({"conversation_id": {"$in": conversation_ids}, "user_id": user_id})
        await self.conversations.delete_many({"_id": {"$in": conversation_ids}, "user_id": user_id})

    # -- messages ------------------------------------------------------------------------------
    async def insert_message(self, doc: dict) -> bool:
        """Insert once; returns False when a message with this `_id` is already stored."""
        try:
            await self.messages.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def continue_reply(self, reply: dict, continuation: dict, changes: dict) -> dict | None:
        """Apply a continuation (`{id, usage}`) to a reply once, and only to the reply as it was
        read: not yet continued by it and with its content unchanged (two continuations at once
        must not both append to the same text). Returns the reply as stored after it, or None when
        it was not applied (done before, or another continuation came first)."""
        return await self.messages.find_one_and_update(
            {
                "_id": reply["_id"],
                "user_id": reply["user_id"],
                "content": reply["content"],
                "continued_by.id": {"$ne": continuation["id"]},
            },
            {"$set": changes, "$push": {"continued_by": continuation}},
            return_document=ReturnDocument.AFTER,
        )

    async def get_message(self, message_id: str, user_id: str | None = None) -> dict | None:
        doc = await self.messages.find_one({"_id": message_id})
        return doc if user_id is None else _owned(doc, user_id)

    async def list_messages(
        self, user_id: str, conversation_id: str, limit: int, before: dict | None = None
    ) -> list[dict]:
        """Up to `limit` messages older than `before` (a message), returned oldest → newest."""
        query: dict = {"conversation_id": conversation_id, "user_id": user_id}
        if before is not None:
            query["$or"] = [
                {"created_at": {"$lt": before["created_at"]}},
                {"created_at": before["created_at"], "_id": {"$lt": before["_id"]}},
            ]
        cursor = self.messages.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        newest_first = await cursor.limit(limit).to_list(limit)
        return list(reversed(newest_first))

    async def all_messages(self, user_id: str, conversation_id: str, limit: int) -> list[dict]:
        """The conversation's first `limit` messages, oldest first."""
        query = {"conversation_id": conversation_id, "user_id": user_id}
        cursor = self.messages.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.limit(limit).to_list(limit)

    async def skeleton(
        self, user_id: str, conversation_id: str, limit: int = MAX_TREE_MESSAGES
    ) -> list[dict]:
        """Up to `limit` of the conversation's messages, oldest first, without their text."""
        query = {"conversation_id": conversation_id, "user_id": user_id}
        cursor = self.messages.find(query, SKELETON).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return await cursor.limit(limit).to_list(limit)

    async def messages_by_ids(self, user_id: str, conversation_id: str, ids: list[str]) -> dict[str, dict]:
        query = {"conversation_id": conversation_id, "user_id": user_id, "_id": {"$in": ids}}
        return {doc["_id"]: doc async for doc in self.messages.find(query)}

    async def count_messages(self, user_id: str, conversation_id: str, role: str) -> int:
        return await self.messages.count_documents(
            {"conversation_id": conversation_id, "user_id": user_id, "role": role}
        )


def _owned(doc: dict | None, user_id: str) -> dict | None:
    """`doc` if it belongs to `user_id`. Look-ups filter on `_id` alone and check the owner here:
    FerretDB uses its `_id` index only for a filter that is exactly `{_id: ...}` and scans the
    collection for any other (docs/performance.md)."""
    return doc if doc is not None and doc.get("user_id") == user_id else None
