"""`Idempotency-Key` for the requests that start a reply (docs/api.md "Retrying a send").

One record per (user, key) in Redis, kept `IDEMPOTENCY_TTL_S`: the request's fingerprint, the
ids chosen by its first attempt and, once Kafka acknowledged the request, `accepted`. An attempt
holds a short lease while it works, so concurrent duplicates never both publish:

- no record: this attempt creates it with fresh ids (`new`);
- `accepted`: the first attempt's answer is returned again (`done`);
- not accepted and no lease: an earlier attempt's outcome is unknown (its publish timed out, or
  it died); this attempt publishes the SAME ids again (`resume`); the orchestrator stores and
  answers a request id once, so a copy that arrives twice is harmless;
- a lease held by another attempt: 409 `idempotency_key_in_use`, retry shortly;
- another fingerprint: 422 `idempotency_key_reused`.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Annotated, Literal

import redis.asyncio as aioredis
from alice_common import linear_re
from fastapi import Depends, Header

from alice_backend.errors import ApiError

HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_S = 24 * 3600
MAX_KEY_CHARS = 255
# Printable ASCII without spaces, quotes, commas or semicolons: UUIDs, ULIDs, base64 all fit.
_KEY = linear_re.compile(r"^[A-Za-z0-9_.:+/=~-]{1,255}$")

# KEYS[1] record hash, KEYS[2] lease; ARGV fingerprint, ids JSON, lease token, lease ms, ttl s
# -> {outcome, ids JSON, state}
_CLAIM = """
local found = redis.call('HMGET', KEYS[1], 'fp', 'ids', 'state')
if not found[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'ids', ARGV[2], 'state', 'pending')
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return {'new', ARGV[2]}
end
if found[1] ~= ARGV[1] then
  return {'mismatch', ''}
end
if found[3] == 'accepted' then
  return {'done', found[2]}
end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  return {'resume', found[2]}
end
return {'busy', ''}
"""

# KEYS[1] record, KEYS[2] lease; ARGV token -> 1 when this attempt's lease was held
_FORGET = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


def parse_key(raw: str | None) -> str | None:
    """The header's value (quotes of the IETF draft's sf-string form removed), or 400."""
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if len(key) > MAX_KEY_CHARS or not _KEY.match(key):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {MAX_KEY_CHARS} characters of A-Z a-z 0-9 and _ . : + / = ~ -",
        )
    return key


def fingerprint(*parts: object) -> str:
    """What makes two requests "the same": the operation and its body, canonically encoded."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "resume", "done"]
    ids: dict
    record_key: str
    lease_key: str
    token: str

    @property
    def fresh(self) -> bool:
        return self.outcome == "new"


class IdempotencyStore:
    def __init__(self, redis: aioredis.Redis, lease_s: float, ttl_s: int = IDEMPOTENCY_TTL_S):
        self.redis = redis
        self.lease_ms = max(1, int(lease_s * 1000))
        self.ttl_s = ttl_s
        self._claim = redis.register_script(_CLAIM)
        self._forget = redis.register_script(_FORGET)
        self._release = redis.register_script(_RELEASE)

    @staticmethod
    def keys(user_id: str, key: str) -> tuple[str, str]:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"idem:{user_id}:{digest}", f"idemlease:{user_id}:{digest}"

    async def claim(self, user_id: str, key: str, fp: str, fresh_ids: dict) -> Claim:
        """Atomically: the record for this key, created with `fresh_ids` if there is none."""
        record_key, lease_key = self.keys(user_id, key)
        token = secrets.token_hex(8)
        outcome, ids = await self._claim(
            keys=[record_key, lease_key],
            args=[fp, json.dumps(fresh_ids, separators=(",", ":")), token, self.lease_ms, self.ttl_s],
        )
        if outcome == "mismatch":
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"this {HEADER} was used for a different request; use a new key for a new request",
            )
        if outcome == "busy":
            raise ApiError(
                409,
                "idempotency_key_in_use",
                f"a request with this {HEADER} is still being processed; retry shortly",
                {"Retry-After": "1"},
            )
        return Claim(outcome, json.loads(ids), record_key, lease_key, token)

    async def accept(self, claim: Claim) -> None:
        """Kafka acknowledged the request: every later retry gets the first answer."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(claim.record_key, "state", "accepted")
            pipe.expire(claim.record_key, self.ttl_s)
            pipe.delete(claim.lease_key)
            await pipe.execute()

    async def release(self, claim: Claim) -> None:
        """The outcome is unknown (or this retry failed): keep the ids for the next retry."""
        await self._release(keys=[claim.record_key, claim.lease_key], args=[claim.token])

    async def forget(self, claim: Claim) -> bool:
        """Nothing was published under these ids: the next retry may start afresh."""
        return bool(await self._forget(keys=[claim.record_key, claim.lease_key], args=[claim.token]))


async def idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Makes a retry safe: the same key and body within 24 h give the first"
            " attempt's answer and never a second message or reply (docs/api.md)",
        ),
    ] = None,
) -> str | None:
    return parse_key(value)


IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
