"""Deleting an account (`DELETE /api/me`; docs/decisions/0059-delete-my-data.md).

In this order, each step idempotent: a mark on the account and the tombstone (from then on every
credential of the account is refused, and the deletion is decided), `UserDeleted` (the
orchestrator and the dataflow purge what they hold), then what the backend itself holds: API
keys, refresh tokens, Redis keys, uploaded files, and the account. Nothing is undone when
publishing fails: a timed-out send may still have reached Kafka, and the services would purge an
account the backend had kept. A crash or a failed publish leaves the marked account document:
`sweep_forever` (every replica) and signing in with it (`finish_if_deleted`) publish again and
finish the deletion.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from alice_common import deleted_users, topics
from alice_common.events import UserDeleted, utcnow
from alice_common.kafka import publish
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from alice_backend.auth.api_keys import ApiKeys
from alice_backend.auth.refresh_tokens import RefreshTokenStore
from alice_backend.ownership_cache import TtlCache
from alice_backend.quotas import FILES
from alice_backend.settings import Settings
from alice_backend.users import Users

log = logging.getLogger(__name__)


PENDING = "deletion_requested_at"  # indexed (sparse) by Users.ensure_indexes
# How long a deletion may be under way in its request before the sweeper takes it over.
SWEEP_AFTER_S = 60
SWEEP_INTERVAL_S = 60
SWEEP_BATCH = 100


class AccountDeletion:
    def __init__(
        self,
        settings: Settings,
        db: AsyncDatabase,
        redis: aioredis.Redis,
        producer: AIOKafkaProducer,
        users: Users,
        api_keys: ApiKeys,
        refresh_tokens: RefreshTokenStore,
        uploads: AsyncGridFSBucket,
    ) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis
        self.producer = producer
        self.users = users
        self.api_keys = api_keys
        self.refresh_tokens = refresh_tokens
        self.uploads = uploads
        # Deleted stays deleted, so only "still active" needs to expire: another replica's
        # deletion reaches this one within the same time as a revoked API key does.
        self._active = TtlCache(ttl_s=settings.api_key_cache_ttl_s, max_entries=100_000)
        self._deleted = TtlCache(ttl_s=settings.access_token_ttl_s, max_entries=100_000)

    async def is_deleted(self, user_id: str) -> bool:
        if self._deleted.get(user_id) is not None:
            return True
        if self._active.get(user_id) is not None:
            return False
        deleted = await deleted_users.is_deleted(self.db, user_id)
        (self._deleted if deleted else self._active).put(user_id, True)
        return deleted

    async def delete(self, user_id: str) -> bool:
        """Decides the deletion, then finishes it: False when `UserDeleted` could not be published
        yet (the sweeper publishes it again)."""
        await self.users.update(user_id, {PENDING: utcnow()})
        await deleted_users.record(self.db, user_id)
        self._deleted.put(user_id, True)
        return await self._publish_then_purge(user_id)

    async def finish_if_deleted(self, user_id: str) -> bool:
        """True when the account was deleted: what a crash left behind is purged now."""
        if not await deleted_users.is_deleted(self.db, user_id):
            return False
        await self._publish_then_purge(user_id)
        return True

    async def finish_pending(self, older_than_s: float = SWEEP_AFTER_S) -> int:
        """Publishes again and purges for each account whose deletion began more than
        `older_than_s` ago and is not finished; how many were finished."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        cursor = self.users.collection.find({PENDING: {"$lt": cutoff}}, {"_id": 1}).limit(SWEEP_BATCH)
        finished = 0
        async for doc in cursor:
            await deleted_users.record(self.db, doc["_id"])
            finished += await self._publish_then_purge(doc["_id"])
        return finished

    async def sweep_forever(self, interval_s: float = SWEEP_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                if finished := await self.finish_pending():
                    log.info("finished %d account deletions left unfinished", finished)
            except Exception:
                log.exception("finishing unfinished account deletions failed; retried later")

    async def _publish_then_purge(self, user_id: str) -> bool:
        try:
            await publish(self.producer, self.settings, topics.USERS_DELETED, UserDeleted(user_id=user_id))
        except Exception as exc:
            # The marked account document stays: the sweeper or the next sign-in tries again.
            log.warning("publishing UserDeleted failed, retried later: %s", exc)
            return False
        await self._purge_own(user_id)
        return True

    async def _purge_own(self, user_id: str) -> None:
        await self.api_keys.delete_all(user_id)
        await self.refresh_tokens.revoke_all(user_id)
        await deleted_users.purge_redis(self.redis, user_id)
        async for blob in self.db[FILES].find({"metadata.user_id": user_id}, {"_id": 1}):
            with contextlib.suppress(NoFile):  # a concurrent delete of the document
                await self.uploads.delete(blob["_id"])
        # Last: while the account document exists, the sweeper and signing in finish what is above.
        await self.users.delete(user_id)
