"""Refresh tokens against a real Redis: rotation, reuse detection, revocation, hashed storage."""

import hashlib
import uuid

import pytest
from alice_backend.auth.refresh_tokens import RefreshRejected, RefreshTokenStore


async def test_rotation_issues_a_new_token_and_retires_the_old(redis):
    store = RefreshTokenStore(redis, ttl_s=60)
    user = uuid.uuid4().hex
    first = await store.issue(user)
    rotated = await store.rotate(first)
    assert rotated.user_id == user and rotated.token != first
    assert (await store.rotate(rotated.token)).user_id == user


async def test_reusing_a_rotated_token_revokes_the_whole_family(redis):
    store = RefreshTokenStore(redis, ttl_s=60)
    first = await store.issue(uuid.uuid4().hex)
    second = (await store.rotate(first)).token
    with pytest.raises(RefreshRejected) as reused:
        await store.rotate(first)
    assert reused.value.reason == "reused"
    with pytest.raises(RefreshRejected) as revoked:
        await store.rotate(second)
    assert revoked.value.reason == "revoked"


async def test_revoke_and_garbage(redis):
    store = RefreshTokenStore(redis, ttl_s=60)
    token = await store.issue(uuid.uuid4().hex)
    await store.revoke(token)
    for bad in (token, "garbage", "0" * 32 + ".x", ""):
        with pytest.raises(RefreshRejected):
            await store.rotate(bad)


async def test_only_the_hash_is_stored(redis):
    store = RefreshTokenStore(redis, ttl_s=60)
    token = await store.issue(uuid.uuid4().hex)
    assert await redis.exists("refresh:" + hashlib.sha256(token.encode()).hexdigest())
    assert not await redis.exists(f"refresh:{token}")
    assert 0 < await redis.ttl("refresh:" + hashlib.sha256(token.encode()).hexdigest()) <= 60


async def test_logout_needs_the_whole_token_not_just_its_family(redis):
    store = RefreshTokenStore(redis, ttl_s=60)
    token = await store.issue(uuid.uuid4().hex)
    family = token.partition(".")[0]
    await store.revoke(f"{family}.guessed-secret")
    assert (await store.rotate(token)).token != token  # the session survived
