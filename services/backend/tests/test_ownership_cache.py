"""The send path's per-process memo of who owns a conversation: an owner until the entry expires,
is forgotten or is pushed out by newer ones."""

import pytest
from alice_backend import ownership_cache
from alice_backend.ownership_cache import OwnershipCache


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(ownership_cache.time, "monotonic", lambda: now[0])
    return now


def test_a_remembered_owner_until_the_entry_expires(clock) -> None:
    owners = OwnershipCache(ttl_s=30)
    owners.remember("c1", "alice")
    assert owners.owned_by("c1", "alice")
    assert not owners.owned_by("c1", "mallory")
    assert not owners.owned_by("c2", "alice")
    clock[0] += 31
    assert not owners.owned_by("c1", "alice")


def test_a_forgotten_conversation_is_asked_about_again(clock) -> None:
    owners = OwnershipCache()
    owners.remember("c1", "alice")
    owners.forget("c1")
    assert not owners.owned_by("c1", "alice")


def test_the_least_recently_remembered_entry_goes_first(clock) -> None:
    owners = OwnershipCache(max_entries=2)
    for conversation in ("c1", "c2", "c3"):
        owners.remember(conversation, "alice")
    assert [owners.owned_by(c, "alice") for c in ("c1", "c2", "c3")] == [False, True, True]
