"""Production mode refuses the development or a short internal token, in every service's settings."""

import pytest
from alice_common.settings import DEV_INTERNAL_TOKEN, AliceSettings


def test_development_accepts_the_built_in_token():
    assert AliceSettings().alice_internal_token.get_secret_value() == DEV_INTERNAL_TOKEN


@pytest.mark.parametrize(
    ("token", "message"),
    [(None, "must be set"), ("s" * 31, "must be at least 32 bytes")],
)
def test_production_refuses_a_weak_internal_token(token, message):
    overrides = {"alice_internal_token": token} if token else {}
    with pytest.raises(ValueError, match=f"ALICE_INTERNAL_TOKEN {message}"):
        AliceSettings(alice_env="production", **overrides)


def test_production_accepts_a_strong_internal_token():
    settings = AliceSettings(alice_env="production", alice_internal_token="k" * 32)
    assert settings.alice_env == "production"
