import time

import jwt
import pytest
from alice_backend.auth import access_tokens
from alice_backend.settings import DEV_JWT_SECRET, Settings

SECRET = "unit-test-secret-of-at-least-32-bytes"


def test_round_trip():
    token = access_tokens.issue(SECRET, "user-1", ttl_s=60)
    assert access_tokens.verify(SECRET, token) == "user-1"


@pytest.mark.parametrize(
    "token",
    [
        access_tokens.issue("another-secret-at-least-32-bytes-long", "user-1", 60),
        access_tokens.issue(SECRET, "user-1", 60, now=time.time() - 120),  # expired
        jwt.encode({"sub": "user-1", "exp": int(time.time()) + 60}, key="", algorithm="none"),
        "not.a.jwt",
        "",
    ],
)
def test_rejected(token):
    with pytest.raises(access_tokens.InvalidToken):
        access_tokens.verify(SECRET, token)


def test_expired_is_reported_as_expired():
    token = access_tokens.issue(SECRET, "u", 60, now=time.time() - 120)
    with pytest.raises(access_tokens.InvalidToken, match="expired"):
        access_tokens.verify(SECRET, token)


STRONG_INTERNAL = "i" * 32


def test_dev_or_short_jwt_secret_is_refused_outside_dev():
    with pytest.raises(ValueError, match="JWT_SECRET must be set"):
        Settings(alice_env="production", alice_internal_token=STRONG_INTERNAL)
    with pytest.raises(ValueError, match="JWT_SECRET must be at least 32 bytes"):
        Settings(alice_env="production", alice_internal_token=STRONG_INTERNAL, jwt_secret="x" * 31)
    strong = Settings(alice_env="production", alice_internal_token=STRONG_INTERNAL, jwt_secret="x" * 32)
    assert strong.jwt_secret.get_secret_value() != DEV_JWT_SECRET
    assert Settings().jwt_secret.get_secret_value() == DEV_JWT_SECRET  # development keeps working
