"""Opaque refresh tokens stored hashed in Redis, rotated on every use, grouped in families.

A token is `{family}.{secret}`; Redis keeps `refresh:{sha256(token)}` -> {user_id, family, state}
and `refresh_family:{family}` -> user id. Using a token marks it `rotated` and issues the next one
in the same family. Presenting a rotated token again means it leaked: the whole family is revoked.
Logout revokes the family, only with a whole token that was issued (knowing a family id is not
enough). Carrying the family in the token lets the Lua scripts declare every key.
"""

import hashlib
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

_ROTATE = """
local user_id, state = unpack(redis.call('HMGET', KEYS[1], 'user_id', 'state'))
if not user_id then return {'invalid'} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'revoked'} end
if state ~= 'active' then
  redis.call('DEL', KEYS[2])
  return {'reused'}
end
redis.call('HSET', KEYS[1], 'state', 'rotated')
redis.call('HSET', KEYS[3], 'user_id', user_id, 'family', ARGV[2], 'state', 'active')
redis.call('EXPIRE', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return {'ok', user_id}
"""

# Revoke the family only when this exact token was issued in it.
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('DEL', KEYS[1], KEYS[2])
"""


class RefreshRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rotated:
    user_id: str
    token: str


def _record_key(token: str) -> str:
    return "refresh:" + hashlib.sha256(token.encode()).hexdigest()


def _family_key(family: str) -> str:
    return f"refresh_family:{family}"


def _family_of(token: str) -> str | None:
    family, sep, secret = token.partition(".")
    if not sep or len(family) != 32 or not secret or not all(c in "0123456789abcdef" for c in family):
        return None
    return family


def _new_token(family: str) -> str:
    return f"{family}.{secrets.token_urlsafe(32)}"


class RefreshTokenStore:
    def __init__(self, redis: aioredis.Redis, ttl_s: int):
        self.redis = redis
        self.ttl_s = ttl_s
        self._rotate = redis.register_script(_ROTATE)
        self._revoke = redis.register_script(_REVOKE)

    async def issue(self, user_id: str) -> str:
        family = secrets.token_hex(16)
        token = _new_token(family)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_family_key(family), user_id, ex=self.ttl_s)
            pipe.hset(_record_key(token), mapping={"user_id": user_id, "family": family, "state": "active"})
            pipe.expire(_record_key(token), self.ttl_s)
            await pipe.execute()
        return token

    async def owner(self, token: str) -> str | None:
        """The user id a token was issued to (whatever its state), without using it up."""
        if _family_of(token) is None:
            return None
        return await self.redis.hget(_record_key(token), "user_id")

    async def rotate(self, token: str) -> Rotated:
        family = _family_of(token)
        if family is None:
            raise RefreshRejected("invalid")
        new_token = _new_token(family)
        result = await self._rotate(
            keys=[_record_key(token), _family_key(family), _record_key(new_token)], args=[self.ttl_s, family]
        )
        if result[0] != "ok":
            raise RefreshRejected(result[0])
        return Rotated(user_id=result[1], token=new_token)

    async def revoke_all(self, user_id: str) -> None:
        """Every session of the user (account deletion). Tokens are stored by hash, so this scans
        the refresh keys: fine for something as rare as deleting an account."""
        doomed = [
            key
            async for key in self.redis.scan_iter(match=_family_key("*"), count=500)
            if await self.redis.get(key) == user_id
        ]
        doomed += [
            key
            async for key in self.redis.scan_iter(match="refresh:*", count=500)
            if await self.redis.hget(key, "user_id") == user_id
        ]
        if doomed:
            await self.redis.delete(*doomed)

    async def revoke(self, token: str) -> None:
        family = _family_of(token)
        if family is None:
            return
        await self._revoke(keys=[_record_key(token), _family_key(family)])
