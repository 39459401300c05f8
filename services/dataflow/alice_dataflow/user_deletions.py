"""`users.deleted` → purge the user's documents (records, files, Weaviate tenants), memory,
conversation tombstones and analytics facts (docs/decisions/0059-delete-my-data.md).

Every step is idempotent, so a redelivery after a crash mid-way finishes the purge. Writers that
may still be busy with the user when it runs (an upload being indexed, a reply's memory and
analytics) are wrapped by `purging_late_writes`: an event of a deleted user is skipped, and one
whose user was deleted while it was handled purges again after it, so what it wrote is removed.
"""

import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiokafka.structs import ConsumerRecord
from alice_common import deleted_users, vectorstore
from alice_common.events import Event, UserDeleted
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from alice_dataflow.analytics import Analytics
from alice_dataflow.deletions import ConversationDeletions
from alice_dataflow.documents import DocumentStore

log = logging.getLogger(__name__)

Handler = Callable[[Event, ConsumerRecord], Awaitable[None]]


class UserDeletions:
    def __init__(
        self,
        db: AsyncDatabase,
        weaviate,
        store: DocumentStore,
        uploads: AsyncGridFSBucket,
        conversations: ConversationDeletions,
        analytics: Analytics,
    ) -> None:
        self.db = db
        self.weaviate = weaviate
        self.store = store
        self.uploads = uploads
        self.conversations = conversations
        self.analytics = analytics

    async def handle(self, event: UserDeleted, record: ConsumerRecord) -> None:
        # Tombstone first: a writer that checks after its write sees it and purges again.
        await deleted_users.record(self.db, event.user_id)
        await self.purge(event.user_id)

    async def purge(self, user_id: str) -> None:
        await self.store.delete_user(user_id)
        # The backend owns the files and deletes them too; this makes the purge finish even if
        # the backend died after publishing.
        async for blob in self.db["uploads.files"].find({"metadata.user_id": user_id}, {"_id": 1}):
            with contextlib.suppress(NoFile):
                await self.uploads.delete(blob["_id"])
        await self.conversations.forget_user(user_id)
        await self.analytics.forget_user(user_id)
        await vectorstore.delete_user_data(self.weaviate, user_id)
        log.info("purged a deleted user's documents, memory and analytics")

    async def is_deleted(self, user_id: str) -> bool:
        return await deleted_users.is_deleted(self.db, user_id)

    def purging_late_writes(self, handler: Handler) -> Handler:
        async def handle(event, record: ConsumerRecord) -> None:
            if await self.is_deleted(event.user_id):
                log.info("skipping %s of a deleted user", event.type)
                return
            try:
                await handler(event, record)
            finally:
                # Even when it failed: a write may have re-created a tenant before it did.
                if await self.is_deleted(event.user_id):
                    await self.purge(event.user_id)

        return handle
