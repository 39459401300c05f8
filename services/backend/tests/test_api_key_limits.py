"""Keys for services: an admin gives a key limits of its own for `/v1` generations; each key's
requests and tokens are counted, visible to its owner and to admins, nobody else."""

import asyncio

import httpx
import openai
import pytest
from alice_common.reply_stream import ReplyStream, active_key

MESSAGES = [{"role": "user", "content": "Hi!"}]


@pytest.fixture
async def owner(backend) -> dict:
    auth = await backend.register()
    created = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "chat ui"})
    return {
        "id": auth["user"]["id"],
        "auth": auth,
        "key": created.json()["secret"],
        "key_id": created.json()["key"]["id"],
    }


@pytest.fixture
async def admin(backend) -> dict:
    auth = await backend.register()
    await backend.ctx.db["users"].update_one({"_id": auth["user"]["id"]}, {"$set": {"is_admin": True}})
    return auth


@pytest.fixture
def sdk_key(owner) -> str:
    return owner["key"]


async def _limit(backend, admin, key_id: str, concurrent: int, per_minute: int) -> httpx.Response:
    limits = {"max_concurrent_generations": concurrent, "requests_per_minute": per_minute}
    return await backend.client.put(
        f"/api/admin/keys/{key_id}/limits", headers=backend.bearer(admin), json=limits
    )


async def _running(redis, subject: str, count: int) -> list[str]:
    for _ in range(250):
        running = await redis.zrange(active_key(subject), 0, -1)
        if len(running) >= count:
            return running
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} replies were not admitted")


def _done(content: str) -> dict:
    return {"message": {"content": content, "usage": {"prompt_tokens": 7, "completion_tokens": 3}}}


async def test_a_key_with_its_own_cap_runs_that_many_at_once_instead_of_its_owners(
    backend, admin, owner, sdk, redis
):
    backend.ctx.settings.max_concurrent_generations = 1
    limited = await _limit(backend, admin, owner["key_id"], concurrent=4, per_minute=600)
    assert limited.status_code == 200
    assert limited.json()["limits"] == {"max_concurrent_generations": 4, "requests_per_minute": 600}
    calls = [
        asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
        for _ in range(5)
    ]
    subject = f"key:{owner['key_id']}"
    running = await _running(redis, subject, 4)
    await asyncio.sleep(0.5)
    assert len(await redis.zrange(active_key(subject), 0, -1)) == 4  # the fifth waits
    assert await redis.zcard(active_key(owner["id"])) == 0  # the owner's own slots are untouched
    for reply_id in running:
        await ReplyStream(redis, reply_id).end("done", _done("ok"), 60, owner["id"])
    for _ in range(250):  # the waiter's turn: the ended replies' slots are freed on its next look
        fifth = [r for r in await redis.zrange(active_key(subject), 0, -1) if r not in running]
        if fifth:
            break
        await asyncio.sleep(0.02)
    (fifth,) = fifth
    await ReplyStream(redis, fifth).end("done", _done("ok"), 60, owner["id"])
    answers = await asyncio.gather(*calls)
    assert [a.choices[0].message.content for a in answers] == ["ok"] * 5


async def test_a_keys_requests_per_minute_give_a_rate_limit_error(backend, admin, owner, sdk, redis):
    await _limit(backend, admin, owner["key_id"], concurrent=4, per_minute=2)
    calls = [
        asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
        for _ in range(2)
    ]
    await _running(redis, f"key:{owner['key_id']}", 2)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="test-model", messages=MESSAGES)
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert 20 <= int(caught.value.response.headers["retry-after"]) <= 30  # one request per 30 s
    for call in calls:
        call.cancel()


async def test_usage_per_key_is_seen_by_its_owner_and_admins_only(backend, admin, owner, sdk, redis):
    call = asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
    (reply_id,) = await _running(redis, owner["id"], 1)
    await ReplyStream(redis, reply_id).end("done", _done("ok"), 60, owner["id"])
    await call

    async def read_stream() -> list:
        stream = await sdk.chat.completions.create(model="test-model", messages=MESSAGES, stream=True)
        return [chunk async for chunk in stream]

    streamed = asyncio.create_task(read_stream())
    (reply_id,) = await _running(redis, owner["id"], 1)
    await ReplyStream(redis, reply_id).end("done", _done("ok"), 60, owner["id"])
    assert (await streamed)[-1].choices[0].finish_reason == "stop"
    expected = {"requests": 2, "prompt_tokens": 14, "completion_tokens": 6}
    for _ in range(50):  # a stream's tokens are counted just after it ended
        mine = (await backend.client.get("/api/keys", headers=backend.bearer(owner["auth"]))).json()["items"]
        if mine[0]["usage"] == expected:
            break
        await asyncio.sleep(0.1)
    assert mine[0]["usage"] == expected and mine[0]["limits"] is None
    seen = await backend.client.get(f"/api/admin/users/{owner['id']}/keys", headers=backend.bearer(admin))
    assert seen.status_code == 200 and seen.json()["items"][0]["usage"] == expected

    stranger = await backend.register()
    refused = await backend.client.get(
        f"/api/admin/users/{owner['id']}/keys", headers=backend.bearer(stranger)
    )
    assert refused.status_code == 403
    refused = await _limit(backend, stranger, owner["key_id"], concurrent=50, per_minute=6000)
    assert refused.status_code == 403
    strangers_keys = (await backend.client.get("/api/keys", headers=backend.bearer(stranger))).json()["items"]
    assert strangers_keys == []


async def test_limits_are_validated_and_can_be_cleared(backend, admin, owner):
    assert (await _limit(backend, admin, "000000000000", 2, 60)).status_code == 404
    bad = await _limit(backend, admin, owner["key_id"], concurrent=0, per_minute=60)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    await _limit(backend, admin, owner["key_id"], 2, 60)
    cleared = await backend.client.delete(
        f"/api/admin/keys/{owner['key_id']}/limits", headers=backend.bearer(admin)
    )
    assert cleared.status_code == 200 and cleared.json()["limits"] is None
