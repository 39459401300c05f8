"""Personal API keys: `sk-alice-{id}-{secret}`, stored as sha256 hashes in MongoDB (`api_keys`).

A key authenticates as its owner wherever an access token does (except key management itself),
so it carries the owner's rate limits and quotas, unless an admin gave it limits of its own for
`/v1` generations (`limits`: a chat UI or batch job serving many people through one key). Each
key counts its `/v1` requests and tokens (`usage`). The secret is shown once, at creation; listings
show only the prefix. Lookups are memoised per process for `API_KEY_CACHE_TTL_S` seconds (hits
and misses alike), so a key revoked through any replica stops working on every replica within
that time without a database read per request.
"""

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alice_common import linear_re
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from alice_backend.ownership_cache import TtlCache

KEY_PREFIX = "sk-alice-"
_KEY = linear_re.compile(r"^sk-alice-([0-9a-f]{12})-([A-Za-z0-9_-]{43})$")
# What a listing shows: enough to recognise a key, useless to use it.
SHOWN_CHARS = len(KEY_PREFIX) + 12 + 5


class TooManyKeys(Exception):
    pass


def looks_like_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


USAGE_FIELDS = ("requests", "prompt_tokens", "completion_tokens")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    shown = {k: doc.get(k) for k in ("name", "prefix", "created_at", "last_used_at", "limits")}
    usage = {k: int((doc.get("usage") or {}).get(k) or 0) for k in USAGE_FIELDS}
    return shown | {"id": doc["_id"], "usage": usage}


@dataclass(frozen=True)
class KeyHolder:
    """Who a valid key authenticates, and the key's own `/v1` limits (None: its owner's)."""

    user_id: str
    key_id: str
    limits: dict[str, int] | None


class _OneAtATime:
    """A lock per name, kept only while somebody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name) or (asyncio.Lock(), 0)
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


class ApiKeys:
    def __init__(self, db: AsyncDatabase, cache_ttl_s: float, max_per_user: int):
        self.collection = db["api_keys"]
        self.max_per_user = max_per_user
        self._cache = TtlCache(ttl_s=cache_ttl_s, max_entries=50_000)
        self._last_used_written = TtlCache(ttl_s=60, max_entries=50_000)
        # FerretDB (the native stack's MongoDB) writes back the whole document on an update, so
        # concurrent updates of one document overwrite each other (decision 0072): a batch of
        # completions on one key lost most of its counts, and a usage count could undo a change of
        # the key's limits. So this process updates a key's document one call at a time. The
        # native stack runs one backend; compose and k8s run MongoDB, whose updates are atomic.
        self._updates = _OneAtATime()

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("hash", unique=True, name="hash_unique")
        await self.collection.create_index("user_id", name="user_id")
        # Keys made before slots existed get a slot no new key can take (they still count).
        async for doc in self.collection.find({"slot": {"$exists": False}}, {"_id": 1}):
            await self.collection.update_one({"_id": doc["_id"]}, {"$set": {"slot": f"legacy-{doc['_id']}"}})
        await self.collection.create_index(
            [("user_id", 1), ("slot", 1)], unique=True, name="user_slot_unique"
        )

    async def create(self, user_id: str, name: str) -> tuple[dict[str, Any], str]:
        """Returns (the stored key's public fields, the secret key: shown to the user once).

        The cap is atomic: each key takes one of the owner's `max_per_user` numbered slots, and the
        unique (user_id, slot) index lets only one of two concurrent creations have a slot."""
        for _ in range(self.max_per_user + 1):
            taken = [doc.get("slot") async for doc in self.collection.find({"user_id": user_id}, {"slot": 1})]
            free = sorted(set(range(self.max_per_user)) - set(taken))
            if len(taken) >= self.max_per_user or not free:
                raise TooManyKeys(self.max_per_user)
            try:
                return await self._insert(user_id, name, free[0])
            except DuplicateKeyError:
                continue  # a concurrent creation took that slot: look again
        raise TooManyKeys(self.max_per_user)

    async def _insert(self, user_id: str, name: str, slot: int) -> tuple[dict[str, Any], str]:
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}{key_id}-{secrets.token_urlsafe(32)}"
        doc = {
            "_id": key_id,
            "user_id": user_id,
            "slot": slot,
            "name": name,
            "prefix": key[:SHOWN_CHARS],
            "hash": _hash(key),
            "created_at": datetime.now(UTC),
            "last_used_at": None,
        }
        await self.collection.insert_one(doc)
        return public(doc), key

    async def of_user(self, user_id: str) -> list[dict[str, Any]]:
        """Every key of the owner (the cap keeps the list short; keys from before a lowered cap
        are listed too, so they can be seen and revoked)."""
        cursor = self.collection.find({"user_id": user_id}).sort("created_at", 1)
        return [public(doc) async for doc in cursor]

    async def revoke(self, user_id: str, key_id: str) -> bool:
        doc = await self.collection.find_one_and_delete({"_id": key_id, "user_id": user_id})
        if doc is None:
            return False
        self._cache.put(doc["hash"], "")
        return True

    async def delete_all(self, user_id: str) -> None:
        """Every key of the owner (account deletion); refused at once by this process."""
        async for doc in self.collection.find({"user_id": user_id}, {"hash": 1}):
            self._cache.put(doc["hash"], "")
        await self.collection.delete_many({"user_id": user_id})

    async def user_of(self, key: str) -> str | None:
        """The owner of a valid key, None for a malformed, unknown or revoked one."""
        holder = await self.holder_of(key)
        return holder.user_id if holder else None

    async def holder_of(self, key: str) -> KeyHolder | None:
        """`user_of` with the key's id and limits (memoised alike: a change of limits applies on
        every replica within `API_KEY_CACHE_TTL_S`)."""
        if not _KEY.fullmatch(key):
            return None
        digest = _hash(key)
        cached = self._cache.get(digest)
        if cached is None:
            doc = await self.collection.find_one({"hash": digest}, {"user_id": 1, "limits": 1})
            cached = KeyHolder(doc["user_id"], doc["_id"], doc.get("limits")) if doc else ""
            self._cache.put(digest, cached)
        if cached and self._last_used_written.get(digest) is None:
            # At most once a minute per key and process: a hint for the user, not an audit log.
            self._last_used_written.put(digest, True)
            used = {"$set": {"last_used_at": datetime.now(UTC)}}
            async with self._updates.hold(cached.key_id):
                await self.collection.update_one({"_id": cached.key_id}, used)
        return cached or None

    async def set_limits(self, key_id: str, limits: dict[str, int] | None) -> dict[str, Any] | None:
        """An admin's change of a key's own limits (None: back to its owner's); None if no such key."""
        async with self._updates.hold(key_id):
            doc = await self.collection.find_one_and_update(
                {"_id": key_id}, {"$set": {"limits": limits}}, return_document=ReturnDocument.AFTER
            )
        if doc is None:
            return None
        self._cache.forget(doc["hash"])  # this replica at once, the others within the memo time
        return public(doc)

    async def record_usage(
        self, key_id: str, requests: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        counts = {
            "requests": requests,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        increments = {f"usage.{name}": value for name, value in counts.items() if value}
        if increments:
            async with self._updates.hold(key_id):
                await self.collection.update_one({"_id": key_id}, {"$inc": increments})
