"""The `Idempotency-Key` store against a real Redis: one claim wins, the first ids come back,
another body is refused, and an attempt whose outcome is unknown leaves its ids to the retry."""

import asyncio
import uuid

import pytest
from alice_backend.errors import ApiError
from alice_backend.idempotency import IdempotencyStore, fingerprint, parse_key


def _user() -> str:
    return f"test-{uuid.uuid4().hex}"


def test_the_key_is_bounded_in_length_and_characters():
    assert parse_key(None) is None
    assert parse_key("8e03978e-40d5-43e8-bc93-6894a57f9324") == "8e03978e-40d5-43e8-bc93-6894a57f9324"
    assert parse_key('"quoted-sf-string"') == "quoted-sf-string"
    assert parse_key("k" * 255) == "k" * 255
    for bad in ("", "k" * 256, "has space", "semi;colon", "ünïcode", "new\nline", '""'):
        with pytest.raises(ApiError) as refused:
            parse_key(bad)
        assert (refused.value.status, refused.value.code) == (400, "invalid_idempotency_key")


def test_the_fingerprint_tells_bodies_apart():
    assert fingerprint("send", "c1", "hi", None) == fingerprint("send", "c1", "hi", None)
    assert fingerprint("send", "c1", "hi", None) != fingerprint("send", "c1", "hi!", None)
    assert fingerprint("send", "c1", "hi", None) != fingerprint("send", "c1", "hi", True)
    assert fingerprint("send", "c1", "hi", None) != fingerprint("send", "c2", "hi", None)


async def test_concurrent_claims_of_one_key_start_the_request_once(redis):
    store = IdempotencyStore(redis, lease_s=30)
    user = _user()
    fp = fingerprint("send", "c", "hello")

    async def claim(i: int):
        try:
            return await store.claim(user, "key-1", fp, {"reply_id": f"r{i}"})
        except ApiError as exc:
            return exc

    results = await asyncio.gather(*(claim(i) for i in range(20)))
    winners = [r for r in results if not isinstance(r, ApiError)]
    assert len(winners) == 1 and winners[0].outcome == "new"
    busy = [r for r in results if isinstance(r, ApiError)]
    assert {(e.status, e.code) for e in busy} == {(409, "idempotency_key_in_use")}
    assert all(e.headers == {"Retry-After": "1"} for e in busy)

    await store.accept(winners[0])
    again = await store.claim(user, "key-1", fp, {"reply_id": "other"})
    assert (again.outcome, again.ids) == ("done", winners[0].ids)


async def test_another_body_with_the_same_key_is_refused_and_keys_are_per_user(redis):
    store = IdempotencyStore(redis, lease_s=30)
    user = _user()
    first = await store.claim(user, "k", fingerprint("a"), {"reply_id": "r1"})
    await store.accept(first)
    with pytest.raises(ApiError) as refused:
        await store.claim(user, "k", fingerprint("b"), {"reply_id": "r2"})
    assert (refused.value.status, refused.value.code) == (422, "idempotency_key_reused")
    other_user = await store.claim(_user(), "k", fingerprint("b"), {"reply_id": "r3"})
    assert (other_user.outcome, other_user.ids) == ("new", {"reply_id": "r3"})


async def test_an_unknown_outcome_leaves_the_same_ids_to_the_retry(redis):
    store = IdempotencyStore(redis, lease_s=30)
    user, fp = _user(), fingerprint("x")
    first = await store.claim(user, "k", fp, {"reply_id": "r1"})
    await store.release(first)  # the publish timed out: outcome unknown
    retry = await store.claim(user, "k", fp, {"reply_id": "r2"})
    assert (retry.outcome, retry.ids) == ("resume", {"reply_id": "r1"})
    assert not retry.fresh
    # A stale attempt cannot release or forget the lease the retry holds now.
    await store.release(first)
    assert not await store.forget(first)
    with pytest.raises(ApiError):
        await store.claim(user, "k", fp, {"reply_id": "r3"})


async def test_a_lapsed_lease_lets_a_retry_take_over_with_the_same_ids(redis):
    store = IdempotencyStore(redis, lease_s=0.2)
    user, fp = _user(), fingerprint("x")
    await store.claim(user, "k", fp, {"reply_id": "r1"})  # the attempt died without a word
    await asyncio.sleep(0.3)
    retry = await store.claim(user, "k", fp, {"reply_id": "r2"})
    assert (retry.outcome, retry.ids) == ("resume", {"reply_id": "r1"})


async def test_nothing_published_lets_the_retry_start_afresh(redis):
    store = IdempotencyStore(redis, lease_s=30)
    user, fp = _user(), fingerprint("x")
    first = await store.claim(user, "k", fp, {"reply_id": "r1"})
    assert await store.forget(first)
    retry = await store.claim(user, "k", fp, {"reply_id": "r2"})
    assert (retry.outcome, retry.ids) == ("new", {"reply_id": "r2"})


async def test_records_live_a_day(redis):
    store = IdempotencyStore(redis, lease_s=30)
    claim = await store.claim(_user(), "k", fingerprint("x"), {"reply_id": "r"})
    await store.accept(claim)
    assert 24 * 3600 - 5 <= await redis.ttl(claim.record_key) <= 24 * 3600
