"""Short-lived HS256 JWT access tokens."""

import time
import uuid
from collections import OrderedDict

import jwt

ALGORITHM = "HS256"
ISSUER = "alice-backend"


class InvalidToken(Exception):
    pass


def issue(secret: str, user_id: str, ttl_s: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_s, "iss": ISSUER, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str) -> str:
    """Returns the user id; raises InvalidToken (expired, bad signature, malformed)."""
    return _verified_claims(secret, token)[0]


def _verified_claims(secret: str, token: str) -> tuple[str, float]:
    """(user id, expiry as a Unix time) of a token whose signature and claims check out."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["sub", "exp", "iat"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("access token expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken("invalid access token") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("invalid access token")
    return sub, float(claims["exp"])


class TokenVerifier:
    """`verify` with a per-process memo of tokens whose signature already checked out.

    Every API request presents the same token for up to its lifetime, and checking the HMAC and
    claims was 12% of the backend's CPU when accepting messages (docs/performance.md). Only a
    token that verified is remembered, keyed by its exact text, with its own expiry, so a hit
    says no more than a fresh check would; tokens are stateless (no revocation to miss). The
    memo is bounded: the least recently used entry goes first.
    """

    def __init__(self, secret: str, max_entries: int = 10_000):
        self.secret = secret
        self.max_entries = max_entries
        self._verified: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def verify(self, token: str) -> str:
        entry = self._verified.get(token)
        if entry is not None:
            user_id, expires_at = entry
            if time.time() < expires_at:
                self._verified.move_to_end(token)
                return user_id
            del self._verified[token]
            raise InvalidToken("access token expired")
        user_id, expires_at = _verified_claims(self.secret, token)
        self._verified[token] = (user_id, expires_at)
        while len(self._verified) > self.max_entries:
            self._verified.popitem(last=False)
        return user_id
