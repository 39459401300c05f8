"""A store restarting under load: every send gets a clear answer (202, or 503 with `Retry-After`)
and every accepted message ends with exactly one completed reply; nothing accepted is lost.

The restarted server is the test's own (a second devstack, or a private Redis), never the shared
one. The fake model paces short replies: the stores, not the text, are under test.
"""

import asyncio
import time

import httpx
import pytest
from alice_common.reply_stream import DONE, RESET, TOKEN
from devstack.testing import PrivateRedis

from tests.support.stack import (
    UNTHROTTLED,
    Stack,
    isolation,
    new_conversation,
    register,
    send,
    sse_events,
    sse_reconnecting,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ORCHESTRATOR = dict(llm_provider="fake", llm_fake_token_interval_ms=20, llm_max_tokens=30)
NO_SEND_LIMITS = UNTHROTTLED | {
    "send_rate_capacity": 10_000,
    "send_rate_per_s": 10_000,
    "max_concurrent_generations": 1000,
    "max_streams_per_user": 1000,  # the check reads every accepted reply's stream at once
    "store_timeout_s": 2,
}
USERS = 4


async def keep_sending(api: httpx.AsyncClient, senders: list, stop: asyncio.Event) -> tuple[list, list]:
    """The users send in turn, 4 messages a second, until `stop`: (accepted, refused) responses."""
    accepted: list[tuple[dict, dict, str]] = []  # (auth, 202 body, conversation)
    refused: list[httpx.Response] = []
    i = 0
    while not stop.is_set():
        auth, conversation = senders[i % len(senders)]
        i += 1
        try:
            response = await api.post(
                f"/api/conversations/{conversation}/messages", headers=auth, json={"content": f"message {i}"}
            )
        except httpx.TimeoutException as exc:
            raise AssertionError(f"a send hung instead of answering: {exc!r}") from exc
        if response.status_code == 202:
            accepted.append((auth, response.json(), conversation))
        else:
            refused.append(response)
        await asyncio.sleep(0.25)
    return accepted, refused


async def assert_each_accepted_message_has_one_completed_reply(api, accepted) -> None:
    async def finished(auth, body) -> list[dict]:
        return await sse_events(api, body["stream_url"], auth, read_timeout_s=180)

    streams = await asyncio.gather(*(finished(auth, body) for auth, body, _ in accepted))
    for (_, body, _), events in zip(accepted, streams, strict=True):
        kinds = [e["event"] for e in events]
        assert kinds.count(DONE) == 1 and kinds[-1] == DONE, (body["reply_id"], kinds)
        assert events[-1]["data"]["message"]["status"] == "completed"
    by_conversation: dict[str, list] = {}
    for auth, body, conversation in accepted:
        by_conversation.setdefault(conversation, []).append((auth, body))
    for conversation, sent in by_conversation.items():
        auth = sent[0][0]
        path = f"/api/conversations/{conversation}/messages"
        listed = await api.get(path, headers=auth, params={"limit": 100})
        assert listed.status_code == 200, listed.text
        replies = [m["id"] for m in listed.json()["items"] if m["role"] == "assistant"]
        users = [m for m in listed.json()["items"] if m["role"] == "user"]
        assert sorted(replies) == sorted(body["reply_id"] for _, body in sent), conversation
        assert len(users) == len(sent)


def assert_refusals_are_clear(refused: list[httpx.Response]) -> None:
    for response in refused:
        assert response.status_code == 503, (response.status_code, response.text)
        assert int(response.headers["Retry-After"]) > 0
        assert response.json()["error"]["code"] in ("upstream_unavailable", "dependency_unavailable")


async def test_a_mongodb_restart_during_sends_loses_no_accepted_message(infra, second_devstack):
    ds = second_devstack
    started = ds("start", "mongodb")
    assert started.returncode == 0, started.stdout + started.stderr
    shared = isolation("mongorestart") | {"mongodb_url": ds.mongodb_url}
    with Stack(infra, shared, orchestrator=ORCHESTRATOR, backend=NO_SEND_LIMITS) as up:
        async with httpx.AsyncClient(base_url=up["backend"].url, timeout=30) as api:
            senders = []
            for _ in range(USERS):
                auth = await register(api, "mongorestart")
                senders.append((auth, await new_conversation(api, auth)))
            stop = asyncio.Event()
            sending = asyncio.create_task(keep_sending(api, senders, stop))
            await asyncio.sleep(2)
            outage = time.monotonic()
            assert (await asyncio.to_thread(ds, "stop", "mongodb")).returncode == 0
            await asyncio.sleep(3)
            assert (await asyncio.to_thread(ds, "start", "mongodb")).returncode == 0
            restarted_after = time.monotonic() - outage
            await asyncio.sleep(3)
            stop.set()
            accepted, refused = await sending
            print(
                f"\n  MongoDB down {restarted_after:.1f} s: {len(accepted)} sends accepted,"
                f" {len(refused)} refused with 503"
            )
            assert accepted, "nothing was accepted"
            assert_refusals_are_clear(refused)
            await assert_each_accepted_message_has_one_completed_reply(api, accepted)


async def test_a_redis_restart_during_streams_ends_each_stream_with_its_one_reply(infra, tmp_path):
    """Redis (append-only, as deployed) restarts while replies stream: each client resumes with
    Last-Event-ID once it is back, is refused meanwhile with a 503 that says when to retry, and
    reads to one `done` whose text is what it was streamed since the last `reset`."""
    redis = PrivateRedis(tmp_path / "redis", persistent=True).start()
    paced = ORCHESTRATOR | {"llm_fake_token_interval_ms": 60, "llm_max_tokens": 100}
    try:
        shared = isolation("redisrestart") | {"redis_url": redis.url}
        with Stack(infra, shared, orchestrator=paced, backend=NO_SEND_LIMITS) as up:
            async with httpx.AsyncClient(base_url=up["backend"].url, timeout=30) as api:
                accepted = []
                for _ in range(USERS):
                    auth = await register(api, "redisrestart")
                    conversation = await new_conversation(api, auth)
                    accepted.append((auth, await send(api, auth, conversation, "stream me"), conversation))
                readers = [
                    asyncio.create_task(sse_reconnecting(api, body["stream_url"], auth))
                    for auth, body, _ in accepted
                ]
                await asyncio.sleep(1.5)  # mid-reply (each takes ~6 s)
                await asyncio.to_thread(redis.stop)
                await asyncio.sleep(2)
                await asyncio.to_thread(redis.start)
                results = await asyncio.gather(*readers)
                refused = sum(len(refusals) for _, refusals in results)
                print(
                    f"\n  Redis restarted mid-stream: {refused} reconnects refused with Retry-After meanwhile"
                )
                for (_, _body, _), (events, _) in zip(accepted, results, strict=True):
                    kinds = [e["event"] for e in events]
                    assert kinds.count(DONE) == 1 and kinds[-1] == DONE, kinds
                    ids = [e["id"] for e in events]
                    assert len(ids) == len(set(ids)), "an event was delivered twice"
                    start = max((i for i, k in enumerate(kinds) if k == RESET), default=-1) + 1
                    text = "".join(e["data"]["delta"] for e in events[start:] if e["event"] == TOKEN)
                    assert events[-1]["data"]["message"]["content"] == text and text
                await assert_each_accepted_message_has_one_completed_reply(api, accepted)
    finally:
        redis.stop()
