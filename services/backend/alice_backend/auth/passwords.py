"""argon2id password hashing (argon2-cffi defaults are the RFC 9106 low-memory profile)."""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# Verified against when the account does not exist, so the response time does not reveal it.
_DUMMY_HASH = _hasher.hash("alice-timing-equaliser")


async def hash_password(password: str) -> str:
    # Hashing takes tens of ms of CPU; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
