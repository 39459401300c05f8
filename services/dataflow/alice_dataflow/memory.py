"""`chat.completed` → both messages into the user's `MessageMemory` tenant, then analytics (not
for an imported exchange, docs/decisions/0060-idempotent-import.md)."""

import logging

from aiokafka.structs import ConsumerRecord
from alice_common import vectorstore
from alice_common.embeddings import Embedder
from alice_common.events import ChatCompleted
from weaviate.classes.data import DataObject

from alice_dataflow.analytics import Analytics
from alice_dataflow.deletions import ConversationDeletions

log = logging.getLogger(__name__)

# BM25 sees the whole message up to this size; the embedding sees its first 256 word pieces.
MAX_TEXT_CHARS = 20_000


class MemoryIndexer:
    def __init__(
        self, weaviate, embedder: Embedder, analytics: Analytics, deletions: ConversationDeletions
    ) -> None:
        self.weaviate = weaviate
        self.embedder = embedder
        self.analytics = analytics
        self.deletions = deletions

    async def handle(self, event: ChatCompleted, record: ConsumerRecord) -> None:
        await self.index(event)
        if not event.imported:  # an imported exchange was not generated here
            await self.analytics.record(event)

    async def index(self, event: ChatCompleted) -> None:
        if await self.deletions.is_deleted(event.user_id, event.conversation_id):
            log.info("not indexing deleted conversation %s", event.conversation_id)
            return
        messages = [(event.user_message_id, "user", event.user_content)]
        if event.assistant_content.strip():
            messages.append((event.assistant_message_id, "assistant", event.assistant_content))
        messages = [(mid, role, text[:MAX_TEXT_CHARS]) for mid, role, text in messages if text.strip()]
        if not messages:
            return
        vectors = await self.embedder.aembed([text for _, _, text in messages], owner=event.user_id)
        objects = [
            DataObject(
                uuid=vectorstore.message_uuid(message_id),
                properties={
                    "message_id": message_id,
                    "conversation_id": event.conversation_id,
                    "role": role,
                    "text": text,
                    "created_at": vectorstore.as_rfc3339(event.occurred_at),
                },
                vector=vector.tolist(),
            )
            for (message_id, role, text), vector in zip(messages, vectors, strict=True)
        ]
        result = await vectorstore.memory(self.weaviate, event.user_id).data.insert_many(objects)
        if result.errors:
            first = next(iter(result.errors.values()))
            raise RuntimeError(f"Weaviate rejected {len(result.errors)} messages: {first.message}")
        # Deleted while we embedded: its handler may have cleaned up before our insert.
        if await self.deletions.is_deleted(event.user_id, event.conversation_id):
            await vectorstore.delete_conversation_memory(self.weaviate, event.user_id, event.conversation_id)
