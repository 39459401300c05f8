"""A key's usage adds up exactly when many completions on it end at once, against the real
MongoDB-protocol server (FerretDB natively, which applies concurrent `$inc`s to one document
non-atomically: without the backend's one-at-a-time updates this counted a fraction)."""

import asyncio

import pytest
from alice_backend.auth.api_keys import ApiKeys

pytestmark = pytest.mark.integration


async def test_concurrent_completions_on_one_key_are_all_counted_and_keep_its_limits(db):
    keys = ApiKeys(db, cache_ttl_s=1.0, max_per_user=5)
    key, _secret = await keys.create("user-1", "batch job")
    other, _ = await keys.create("user-1", "laptop")

    async def completion(key_id: str, n: int) -> None:
        await keys.record_usage(key_id, 1, 0, 0)  # admitted
        await asyncio.sleep(0.001 * (n % 5))
        await keys.record_usage(key_id, 0, 10, n)  # ended

    limits = {"max_concurrent_generations": 2, "requests_per_minute": 100}
    await asyncio.gather(
        *(completion(key["id"], n) for n in range(40)),
        *(completion(other["id"], 1) for _ in range(10)),
        keys.set_limits(key["id"], limits),  # an admin's change while the counts are written
    )

    keys_listed = {k["id"]: k for k in await keys.of_user("user-1")}
    assert keys_listed[key["id"]]["limits"] == limits
    listed = {key_id: k["usage"] for key_id, k in keys_listed.items()}
    assert listed[key["id"]] == {"requests": 40, "prompt_tokens": 400, "completion_tokens": sum(range(40))}
    assert listed[other["id"]] == {"requests": 10, "prompt_tokens": 100, "completion_tokens": 10}
    assert keys._updates._locks == {}  # nothing kept once the updates are done
