"""No secret has a default in code: a missing or short internal token refuses start-up in every mode
(ALICE_ENV relaxes nothing)."""

import pytest
from alice_common.settings import AliceSettings

MODES = ["dev", "production", "compose", None]


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_internal_token_is_refused_in_every_mode(monkeypatch, mode):
    monkeypatch.delenv("ALICE_INTERNAL_TOKEN", raising=False)
    overrides = {"alice_env": mode} if mode else {}
    with pytest.raises(ValueError, match=r"ALICE_INTERNAL_TOKEN not set: .*make dev generates"):
        AliceSettings(**overrides)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("token", "why"),
    [("dev-internal-token", "has a value published"), ("s" * 31, "must be at least 32 bytes")],
)
def test_a_known_or_short_internal_token_is_refused_in_every_mode(mode, token, why):
    overrides = {"alice_env": mode} if mode else {}
    with pytest.raises(ValueError, match=f"ALICE_INTERNAL_TOKEN {why}"):
        AliceSettings(alice_internal_token=token, **overrides)


def test_errors_never_echo_a_secret():
    with pytest.raises(ValueError) as refused:
        AliceSettings(alice_internal_token="short-but-secret-value")
    assert "short-but-secret-value" not in str(refused.value)


def test_a_strong_internal_token_is_accepted():
    settings = AliceSettings(alice_internal_token="k" * 32)
    assert settings.alice_internal_token.get_secret_value() == "k" * 32
    assert settings.alice_env == "production"  # the default names no development mode
