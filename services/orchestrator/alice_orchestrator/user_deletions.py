"""`users.deleted` → purge the user's conversations, messages (with their feedback), presets, context
caches and reply streams (docs/decisions/0059-delete-my-data.md).

Idempotent, so a redelivery after a crash mid-way purges what is left. A reply generating while
this runs stores into a conversation that is gone: the handler sees that after its inserts and
takes them back (decision 0026), so nothing is re-created.
"""

import logging

import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord
from alice_common import deleted_users
from alice_common.events import UserDeleted
from pymongo.asynchronous.database import AsyncDatabase

from alice_orchestrator.recent_turns import RecentTurns
from alice_orchestrator.store import ChatStore

log = logging.getLogger(__name__)


class UserDeletions:
    def __init__(self, db: AsyncDatabase, store: ChatStore, recent_turns: RecentTurns, redis: aioredis.Redis):
        self.db = db
        self.store = store
        self.recent_turns = recent_turns
        self.redis = redis

    async def handle(self, event: UserDeleted, record: ConsumerRecord) -> None:
        await deleted_users.record(self.db, event.user_id)
        conversation_ids = await self.store.conversation_ids(event.user_id)
        for conversation_id in conversation_ids:
            await self.recent_turns.forget(conversation_id)
        await self.store.delete_user(event.user_id)
        removed = await deleted_users.purge_redis(self.redis, event.user_id)
        log.info("purged a deleted user: %d conversations, %d Redis keys", len(conversation_ids), removed)
