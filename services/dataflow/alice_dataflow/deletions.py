"""`conversations.deleted` → forget the conversation's `MessageMemory` and its attachments (records,
chunks and files), and remember the deletion.

A `chat.completed` of that conversation may still arrive later (another topic, so no order
between the two); the memory indexer asks `is_deleted` and does not index it again.
"""

import contextlib
import logging

from aiokafka.structs import ConsumerRecord
from alice_common import vectorstore
from alice_common.events import ConversationDeleted
from alice_common.mongo import replace_by_id
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from alice_dataflow.documents import DocumentStore

log = logging.getLogger(__name__)


def _key(user_id: str, conversation_id: str) -> str:
    return f"{user_id}:{conversation_id}"


class ConversationDeletions:
    def __init__(self, db, weaviate, documents: DocumentStore, uploads: AsyncGridFSBucket) -> None:
        self.deleted = db["deleted_conversations"]
        self.weaviate = weaviate
        self.documents = documents
        self.uploads = uploads

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
        attachments = await self._delete_attachments(event.user_id, event.conversation_id)
        log.info(
            "forgot conversation %s (%d memory entries, %d attachments)",
            event.conversation_id,
            removed,
            attachments,
        )

    async def _delete_attachments(self, user_id: str, conversation_id: str) -> int:
        """Each file, then its record; the chunks last, found by conversation. The record goes
        before the chunks so that an ingestion in flight finds it gone and removes what it wrote;
        a redelivery after a crash finds what is left (the chunks need no record). An upload
        registered after the tombstone is refused (`registered_too_late`)."""
        count = 0
        while attached := await self.documents.list(user_id, conversation_id):
            for doc in attached:
                with contextlib.suppress(NoFile):
                    await self.uploads.delete(doc["blob_id"])
                await self.documents.delete(user_id, doc["_id"])
            count += len(attached)
        await vectorstore.delete_attachment_chunks(self.weaviate, user_id, conversation_id)
        return count

    async def registered_too_late(self, user_id: str, conversation_id: str | None, document_id: str) -> bool:
        """An attachment registered for a conversation already deleted: its record is removed
        again (checked after the write, so a deletion racing it sees the record or this sees the
        tombstone) and the caller drops the file."""
        if conversation_id is None or not await self.is_deleted(user_id, conversation_id):
            return False
        await self.documents.delete(user_id, document_id)
        return True

    async def is_deleted(self, user_id: str, conversation_id: str) -> bool:
        found = await self.deleted.find_one({"_id": _key(user_id, conversation_id)}, {"_id": 1})
        return found is not None

    async def forget_user(self, user_id: str) -> None:
        """The tombstones of a deleted user's conversations: the user's own tombstone
        (`alice_common.deleted_users`) covers their late events from then on."""
        await self.deleted.delete_many({"user_id": user_id})
