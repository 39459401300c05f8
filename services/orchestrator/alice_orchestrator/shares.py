"""Shared links: a frozen copy of a conversation's title and messages that anyone holding the
link may read (docs/decisions/0058-shared-links.md).

A share's `_id` is the SHA-256 of its token: the public read, the only frequent query, is then
an `_id` look-up (FerretDB uses no other index, see `store._owned`), and the database holds no
live link. The owner names a share by its `share_id`.
"""

from datetime import UTC, datetime

from alice_common.errors import ApiError
from alice_common.ids import new_id
from alice_common.wire import Share, SharedConversation, SharedMessage
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

MAX_SHARES_PER_CONVERSATION = 20
MAX_SHARES_PER_USER = 200
# One snapshot is one document (at most 16 MB): a longer conversation is refused, not cut short.
MAX_SHARED_MESSAGES = 1000
MAX_SHARED_CHARS = 2_000_000


def share_of(doc: dict) -> Share:
    return Share(
        id=doc["share_id"],
        conversation_id=doc["conversation_id"],
        title=doc.get("title"),
        created_at=doc["created_at"],
        message_count=doc["message_count"],
    )


def snapshot_messages(messages: list[dict]) -> list[dict]:
    """What the snapshot keeps of each message: who said what, and when."""
    if len(messages) > MAX_SHARED_MESSAGES:
        raise ApiError(
            413, "share_too_large", f"a shared conversation holds at most {MAX_SHARED_MESSAGES} messages"
        )
    kept = [
        {"role": m["role"], "content": m.get("content", ""), "created_at": m["created_at"]} for m in messages
    ]
    if sum(len(m["content"]) for m in kept) > MAX_SHARED_CHARS:
        raise ApiError(
            413, "share_too_large", f"a shared conversation holds at most {MAX_SHARED_CHARS} characters"
        )
    return kept


class ShareStore:
    def __init__(self, shares: AsyncCollection):
        self.shares = shares

    async def create(
        self, user_id: str, conversation: dict, token_sha256: str, messages: list[dict]
    ) -> Share:
        """Checks the caps, then stores the snapshot. Two creations at the same moment may both
        pass the count: the caps bound storage, they are not exact."""
        if await self.shares.count_documents({"user_id": user_id}) >= MAX_SHARES_PER_USER:
            raise ApiError(
                409, "too_many_shares", f"at most {MAX_SHARES_PER_USER} links per account; revoke one first"
            )
        mine = {"user_id": user_id, "conversation_id": conversation["_id"]}
        if await self.shares.count_documents(mine) >= MAX_SHARES_PER_CONVERSATION:
            raise ApiError(
                409,
                "too_many_shares",
                f"at most {MAX_SHARES_PER_CONVERSATION} links per conversation; revoke one first",
            )
        doc = {
            "_id": token_sha256,
            "share_id": new_id(),
            **mine,
            "title": conversation.get("title"),
            "created_at": datetime.now(UTC),
        }
        doc["messages"] = snapshot_messages(messages)
        doc["message_count"] = len(doc["messages"])
        await self.shares.insert_one(doc)
        return share_of(doc)

    async def of_conversation(self, user_id: str, conversation_id: str) -> list[Share]:
        query = {"user_id": user_id, "conversation_id": conversation_id}
        cursor = self.shares.find(query, {"messages": 0}).sort([("created_at", DESCENDING)])
        return [share_of(doc) for doc in await cursor.to_list(MAX_SHARES_PER_CONVERSATION)]

    async def revoke(self, user_id: str, share_id: str) -> bool:
        result = await self.shares.delete_one({"share_id": share_id, "user_id": user_id})
        return result.deleted_count == 1

    async def remove_conversation(self, user_id: str, conversation_id: str) -> None:
        await self.shares.delete_many({"user_id": user_id, "conversation_id": conversation_id})

    async def remove_user(self, user_id: str) -> None:
        await self.shares.delete_many({"user_id": user_id})

    async def read(self, token_sha256: str) -> SharedConversation | None:
        doc = await self.shares.find_one({"_id": token_sha256})
        if doc is None:
            return None
        messages = [SharedMessage(**m) for m in doc["messages"]]
        return SharedConversation(title=doc.get("title"), shared_at=doc["created_at"], messages=messages)
