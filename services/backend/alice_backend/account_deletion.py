"""Deleting an account (`DELETE /api/me`; docs/decisions/0059-delete-my-data.md).

In this order, each step idempotent: the tombstone (from then on every credential of the account
is refused), `UserDeleted` (the orchestrator and the dataflow purge what they hold), then what
the backend itself holds: API keys, refresh tokens, Redis keys, uploaded files, and the account.
A crash between the steps leaves a tombstone beside an account document: signing in with that
account finishes the deletion (`finish_if_deleted`) instead of signing in.
"""

import contextlib
import logging

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from alice_common import deleted_users, topics
from alice_common.events import UserDeleted
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


class NotPublished(Exception):
    """`UserDeleted` could not be published: nothing was deleted."""


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

    async def delete(self, user_id: str) -> None:
        """Raises `NotPublished` when `UserDeleted` cannot be published, leaving the account as it
        was; a failure after that leaves what `finish_if_deleted` completes."""
        await deleted_users.record(self.db, user_id)
        self._deleted.put(user_id, True)
        try:
            await publish(self.producer, self.settings, topics.USERS_DELETED, UserDeleted(user_id=user_id))
        except Exception as exc:
            await self.db[deleted_users.COLLECTION].delete_one({"_id": deleted_users.tombstone_id(user_id)})
            self._deleted.forget(user_id)
            raise NotPublished(str(exc)) from exc
        await self._purge_own(user_id)

    async def finish_if_deleted(self, user_id: str) -> bool:
        """True when the account was deleted: what a crash left behind is purged now."""
        if not await deleted_users.is_deleted(self.db, user_id):
            return False
        try:
            await publish(self.producer, self.settings, topics.USERS_DELETED, UserDeleted(user_id=user_id))
        except Exception as exc:
            # The account document stays, so the next sign-in tries again.
            log.warning("publishing UserDeleted again failed: %s", exc)
            return True
        await self._purge_own(user_id)
        return True

    async def _purge_own(self, user_id: str) -> None:
        await self.api_keys.delete_all(user_id)
        await self.refresh_tokens.revoke_all(user_id)
        await deleted_users.purge_redis(self.redis, user_id)
        async for blob in self.db[FILES].find({"metadata.user_id": user_id}, {"_id": 1}):
            with contextlib.suppress(NoFile):  # a concurrent delete of the document
                await self.uploads.delete(blob["_id"])
        # Last: while the account document exists, signing in finishes what is above.
        await self.users.delete(user_id)
