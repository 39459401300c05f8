"""`conversations.deleted` → forget the conversation's `MessageMemory`, and remember the deletion.

A `chat.completed` of that conversation may still arrive later (another topic, so no order
between the two); the memory indexer asks `is_deleted` and does not index it again.
"""

import logging

from aiokafka.structs import ConsumerRecord
from alice_common import vectorstore
from alice_common.events import ConversationDeleted
from alice_common.mongo import replace_by_id

log = logging.getLogger(__name__)


def _key(user_id: str, conversation_id: str) -> str:
    return f"{user_id}:{conversation_id}"


class ConversationDeletions:
    def __init__(self, db, weaviate) -> None:
        self.deleted = db["deleted_conversations"]
        self.weaviate = weaviate

    async def handle(self, event: ConversationDeleted, record: ConsumerRecord) -> None:
        # Record first, then delete: an indexer inserting after our delete sees the record and
        # removes what it wrote. Both steps are idempotent, so a redelivery is harmless.
        await replace_by_id(
            self.deleted,
            _key(event.user_id, event.conversation_id),
            {
                "user_id": event.user_id,
                "conversation_id": event.conversation_id,
                "deleted_at": event.occurred_at,
            },
        )
        removed = await vectorstore.delete_conversation_memory(
            self.weaviate, event.user_id, event.conversation_id
        )
        log.info("forgot conversation %s (%d memory entries)", event.conversation_id, removed)

    async def is_deleted(self, user_id: str, conversation_id: str) -> bool:
        found = await self.deleted.find_one({"_id": _key(user_id, conversation_id)}, {"_id": 1})
        return found is not None

    async def forget_user(self, user_id: str) -> None:
        """The tombstones of a deleted user's conversations: the user's own tombstone
        (`alice_common.deleted_users`) covers their late events from then on."""
        await self.deleted.delete_many({"user_id": user_id})
