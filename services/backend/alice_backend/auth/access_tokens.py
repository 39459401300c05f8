"""Short-lived HS256 JWT access tokens."""

import time
import uuid

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
    return sub
