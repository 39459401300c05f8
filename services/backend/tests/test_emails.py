"""Canonical e-mail addresses: one spelling per account, look-alikes refused."""

import pytest
from alice_backend.emails import UnsafeEmail, canonical_email


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("  Alice@Example.COM ", "alice@example.com"),
        (
            "\uff41\uff4c\uff49\uff43\uff45@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
            "alice@example.com",
        ),  # full-width forms
        ("\ufb01ona@example.com", "fiona@example.com"),  # the "\ufb01" ligature
        (
            "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
            "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",
        ),  # one script per part is fine
        ("\u5c71\u7530@\u4f8b\u3048.jp", "\u5c71\u7530@\u4f8b\u3048.jp"),
    ],
)
def test_canonical_form(raw, canonical):
    assert canonical_email(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "p\u0430ypal@example.com",  # Cyrillic a among Latin letters
        "alice@ex\u0430mple.com",  # ... in the domain
        "ali\u200bce@example.com",  # zero-width space
        "alice\u202e@example.com",  # right-to-left override
        "ali ce@example.com",
        "alice\x00@example.com",
    ],
)
def test_look_alikes_are_refused(raw):
    with pytest.raises(UnsafeEmail):
        canonical_email(raw)
