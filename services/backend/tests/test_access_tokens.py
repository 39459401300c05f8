import time

import jwt
import pytest
from alice_backend.auth import access_tokens
from alice_backend.settings import Settings

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


@pytest.mark.parametrize("mode", ["dev", "production", None])
def test_a_missing_or_short_jwt_secret_is_refused_in_every_mode(monkeypatch, mode):
    monkeypatch.delenv("JWT_SECRET", raising=False)
    overrides = {"alice_env": mode} if mode else {}
    with pytest.raises(ValueError, match="JWT_SECRET not set"):
        Settings(alice_internal_token=STRONG_INTERNAL, **overrides)
    with pytest.raises(ValueError, match="JWT_SECRET must be at least 32 bytes"):
        Settings(alice_internal_token=STRONG_INTERNAL, jwt_secret="x" * 31, **overrides)
    with pytest.raises(ValueError, match="JWT_SECRET has a value published"):
        Settings(
            alice_internal_token=STRONG_INTERNAL,
            jwt_secret="dev-only-jwt-secret-not-for-production-use",
            **overrides,
        )
    strong = Settings(alice_internal_token=STRONG_INTERNAL, jwt_secret="x" * 32, **overrides)
    assert strong.jwt_secret.get_secret_value() == "x" * 32


def test_verifier_remembers_a_good_token_and_never_a_bad_one(monkeypatch):
    verifier = access_tokens.TokenVerifier(SECRET)
    good = access_tokens.issue(SECRET, "user-1", ttl_s=60)
    forged = access_tokens.issue("another-secret-at-least-32-bytes-long", "user-1", 60)
    assert verifier.verify(good) == "user-1"
    for _ in range(2):  # a rejected token is checked again each time, never remembered
        with pytest.raises(access_tokens.InvalidToken, match="invalid"):
            verifier.verify(forged)

    checks = []
    monkeypatch.setattr(access_tokens.jwt, "decode", lambda *a, **k: checks.append(a) or {})
    assert verifier.verify(good) == "user-1"  # from the memo
    assert checks == []


def test_verifier_rejects_a_remembered_token_once_it_expires(monkeypatch):
    verifier = access_tokens.TokenVerifier(SECRET)
    token = access_tokens.issue(SECRET, "user-1", ttl_s=60)
    assert verifier.verify(token) == "user-1"
    later = time.time() + 61
    monkeypatch.setattr(access_tokens.time, "time", lambda: later)
    with pytest.raises(access_tokens.InvalidToken, match="expired"):
        verifier.verify(token)


def test_verifier_memo_is_bounded():
    verifier = access_tokens.TokenVerifier(SECRET, max_entries=3)
    tokens = [access_tokens.issue(SECRET, f"user-{i}", ttl_s=60) for i in range(5)]
    assert [verifier.verify(t) for t in tokens] == [f"user-{i}" for i in range(5)]
    assert len(verifier._verified) == 3
    assert list(verifier._verified) == tokens[2:]


def test_each_internal_service_is_called_with_its_own_token(monkeypatch):
    """Issue 23: per-caller credentials; without a per-service token the shared one is used."""
    for name in ("ORCHESTRATOR", "DATAFLOW", "KAFKAFLOW"):
        monkeypatch.delenv(f"{name}_INTERNAL_TOKEN", raising=False)
    own = {svc: f"{svc}-token-long-enough-to-be-a-secret" for svc in ("orchestrator", "dataflow")}
    settings = Settings(
        alice_internal_token=STRONG_INTERNAL,
        jwt_secret="j" * 32,
        orchestrator_internal_token=own["orchestrator"],
        dataflow_internal_token=own["dataflow"],
    )
    assert settings.internal_token_of("orchestrator").get_secret_value() == own["orchestrator"]
    assert settings.internal_token_of("dataflow").get_secret_value() == own["dataflow"]
    assert settings.internal_token_of("kafkaflow").get_secret_value() == STRONG_INTERNAL
    with pytest.raises(ValueError, match="KAFKAFLOW_INTERNAL_TOKEN must be at least 32 bytes"):
        Settings(alice_internal_token=STRONG_INTERNAL, jwt_secret="j" * 32, kafkaflow_internal_token="short")
