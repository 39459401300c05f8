"""A send is accepted once, or not at all (issue 22): `Idempotency-Key` on sends, regenerate and
`/v1/chat/completions`, and a publish that Kafka does not confirm in time answered as "outcome
unknown", settled by the retry with the same key.

Real Kafka, Redis and FerretDB and the local SmolLM2 model. The stalled broker is a private one
(a second devstack), stopped with SIGSTOP: never the shared stack's.
"""

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import DONE, FAILED, RESET, TOKEN, ReplyStream

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

ORCHESTRATOR = dict(llm_provider="local", llm_max_tokens=24, llm_temperature=0.2, ready_timeout_s=120)
BACKEND = UNTHROTTLED | {
    "send_rate_capacity": 1000,
    "send_rate_per_s": 1000,
    "max_concurrent_generations": 50,
}


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    with Stack(infra, isolation("idem"), orchestrator=ORCHESTRATOR, backend=BACKEND) as up:
        yield up["backend"].url


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack, timeout=30) as client:
        yield client


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def post_message(api, auth, conversation: str, content: str, key: dict) -> httpx.Response:
    return await api.post(
        f"/api/conversations/{conversation}/messages", headers=auth | key, json={"content": content}
    )


async def messages(api, auth, conversation: str) -> list[dict]:
    response = await api.get(
        f"/api/conversations/{conversation}/messages", headers=auth, params={"limit": 200}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def settled_messages(api, auth, conversation: str, timeout_s: float = 60) -> list[dict]:
    """The conversation once nothing has changed in it for 3 s (late copies of a request had
    their chance to be stored twice)."""
    deadline = time.monotonic() + timeout_s
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        items = await messages(api, auth, conversation)
        snapshot = [(m["id"], m["status"]) for m in items]
        if snapshot != last:
            last, stable_since = snapshot, time.monotonic()
        elif time.monotonic() - stable_since >= 3:
            return items
        await asyncio.sleep(0.3)
    return items


def roles(items: list[dict]) -> list[str]:
    return [m["role"] for m in items]


def assert_one_completed_reply(events: list[dict], reply_id: str) -> None:
    kinds = [e["event"] for e in events]
    assert kinds.count(DONE) == 1 and kinds[-1] == DONE and FAILED not in kinds, kinds
    assert events[-1]["data"]["message"]["id"] == reply_id
    assert events[-1]["data"]["message"]["status"] == "completed"


async def assert_whole_stream_has_one_reply(redis_url: str, reply_id: str, stored: dict) -> None:
    """All of the reply's stream (not only up to the first `done`, where a reader stops): one
    attempt's text, one `done`, nothing after it, equal to the stored reply."""
    redis = aioredis.from_url(redis_url, decode_responses=True)
    try:
        stream = await ReplyStream(redis, reply_id).events()
    finally:
        await redis.aclose()
    kinds = [kind for _, kind, _ in stream]
    assert kinds.count(DONE) == 1 and kinds[-1] == DONE and FAILED not in kinds, kinds
    start = max((i for i, k in enumerate(kinds) if k == RESET), default=-1) + 1
    text = "".join(data["delta"] for _, kind, data in stream[start:] if kind == TOKEN)
    assert text == stored["content"] == stream[-1][2]["message"]["content"]


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_stores_nothing_twice(api, infra):
    auth = await register(api, "idem")
    conversation = await new_conversation(api, auth)
    key = new_key()
    first = await post_message(api, auth, conversation, "Name one colour.", key)
    again = await post_message(api, auth, conversation, "Name one colour.", key)
    assert first.status_code == 202, first.text
    assert again.status_code == 202, again.text
    assert again.json() == first.json()

    events = await sse_events(api, first.json()["stream_url"], auth)
    assert_one_completed_reply(events, first.json()["reply_id"])
    later = await post_message(api, auth, conversation, "Name one colour.", key)
    assert later.status_code == 202 and later.json() == first.json()

    items = await settled_messages(api, auth, conversation)
    assert roles(items) == ["user", "assistant"], items
    assert [m["id"] for m in items] == [first.json()["message"]["id"], first.json()["reply_id"]]
    await assert_whole_stream_has_one_reply(infra.redis_url, first.json()["reply_id"], items[1])


async def test_the_same_key_with_another_body_is_refused(api):
    auth = await register(api, "idem")
    conversation = await new_conversation(api, auth)
    key = new_key()
    first = await post_message(api, auth, conversation, "Name one animal.", key)
    assert first.status_code == 202, first.text
    other = await post_message(api, auth, conversation, "Name one plant.", key)
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # Another user may use the same key: keys are per user.
    bob = await register(api, "idem")
    bobs = await post_message(api, bob, await new_conversation(api, bob), "Name one plant.", key)
    assert bobs.status_code == 202, bobs.text
    await sse_events(api, first.json()["stream_url"], auth)
    items = await settled_messages(api, auth, conversation)
    assert roles(items) == ["user", "assistant"] and items[0]["content"] == "Name one animal."


async def test_a_malformed_key_is_a_400_and_nothing_is_sent(api):
    auth = await register(api, "idem")
    conversation = await new_conversation(api, auth)
    for bad in ("k" * 256, "two words", "ü".encode()):
        response = await post_message(api, auth, conversation, "hello", {"Idempotency-Key": bad})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await messages(api, auth, conversation) == []


async def test_concurrent_duplicates_start_one_reply(api):
    auth = await register(api, "idem")
    conversation = await new_conversation(api, auth)
    key = new_key()
    answers = await asyncio.gather(
        *(post_message(api, auth, conversation, "Say hello.", key) for _ in range(8))
    )
    accepted = [a.json() for a in answers if a.status_code == 202]
    assert accepted, [a.text for a in answers]
    assert all(a.status_code in (202, 409) for a in answers), [a.text for a in answers]
    assert all(a.json()["error"]["code"] == "idempotency_key_in_use" for a in answers if a.status_code == 409)
    assert len({json.dumps(a, sort_keys=True) for a in accepted}) == 1
    await sse_events(api, accepted[0]["stream_url"], auth)
    items = await settled_messages(api, auth, conversation)
    assert roles(items) == ["user", "assistant"], items


async def test_a_regenerate_retried_with_its_key_makes_one_new_reply(api):
    auth = await register(api, "idem")
    conversation = await new_conversation(api, auth)
    first = await post_message(api, auth, conversation, "Name one fruit.", new_key())
    assert first.status_code == 202
    await sse_events(api, first.json()["stream_url"], auth)
    key = new_key()
    path = f"/api/replies/{first.json()['reply_id']}/regenerate"
    regenerated = [await api.post(path, headers=auth | key) for _ in range(3)]
    assert [r.status_code for r in regenerated] == [202, 202, 202], [r.text for r in regenerated]
    assert regenerated[0].json() == regenerated[1].json() == regenerated[2].json()
    events = await sse_events(api, regenerated[0].json()["stream_url"], auth)
    assert_one_completed_reply(events, regenerated[0].json()["reply_id"])
    items = await settled_messages(api, auth, conversation)
    assert roles(items) == ["user", "assistant", "assistant"], items


async def test_a_completion_retried_with_its_key_is_the_same_completion(api):
    auth = await register(api, "idem")
    model = (await api.get("/v1/models", headers=auth)).json()["data"][0]["id"]
    body = {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 12}
    key = new_key()
    first = await api.post("/v1/chat/completions", headers=auth | key, json=body, timeout=120)
    again = await api.post("/v1/chat/completions", headers=auth | key, json=body, timeout=120)
    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["choices"] == first.json()["choices"]
    streamed = await api.post(
        "/v1/chat/completions", headers=auth | key, json=body | {"stream": True}, timeout=120
    )
    assert streamed.status_code == 422, streamed.text
    assert streamed.json()["error"]["code"] == "idempotency_key_reused"


def _kafka_pid(state_dir: Path) -> int:
    return json.loads((state_dir / "run" / "kafka.json").read_text())["pid"]


async def test_a_stalled_broker_never_answers_a_send_twice(infra, second_devstack):
    """The broker stalls (SIGSTOP) while a message is sent: the send cannot be confirmed in time,
    so it answers 504 `outcome_unknown` (not "nothing was accepted"), although the record is
    queued and arrives once the broker resumes. A retry during the stall queues another copy.
    The retry after the stall, with the same key, gets the same ids; the conversation ends with
    exactly one user message and one completed reply."""
    ds = second_devstack
    started = ds("start", "kafka", timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    shared = isolation("idemstall") | {"kafka_bootstrap_servers": f"127.0.0.1:{ds.ports['ALICE_KAFKA_PORT']}"}
    backend = BACKEND | {"publish_timeout_s": 2}
    kafka_group = _kafka_pid(ds.state_dir)
    with Stack(infra, shared, orchestrator=ORCHESTRATOR, backend=backend) as up:
        async with httpx.AsyncClient(base_url=up["backend"].url, timeout=60) as api:
            auth = await register(api, "idemstall")
            conversation = await new_conversation(api, auth)
            warm = await post_message(api, auth, conversation, "Name one colour.", new_key())
            assert warm.status_code == 202, warm.text  # the producer knows the topic now
            assert_one_completed_reply(
                await sse_events(api, warm.json()["stream_url"], auth), warm.json()["reply_id"]
            )

            key = new_key()
            os.killpg(kafka_group, signal.SIGSTOP)
            try:
                stalled = await post_message(api, auth, conversation, "Name one animal.", key)
                retried_in_stall = await post_message(api, auth, conversation, "Name one animal.", key)
            finally:
                os.killpg(kafka_group, signal.SIGCONT)
            deadline = time.monotonic() + 60
            while True:
                settled = await post_message(api, auth, conversation, "Name one animal.", key)
                if settled.status_code == 202 or time.monotonic() > deadline:
                    break
                assert settled.status_code in (409, 503, 504), settled.text
                await asyncio.sleep(1)
            assert settled.status_code == 202, settled.text

            events = await sse_events(api, settled.json()["stream_url"], auth, read_timeout_s=180)
            items = await settled_messages(api, auth, conversation, timeout_s=90)
            print(
                f"\n  stalled send: {stalled.status_code} {stalled.json()['error']['code']},"
                f" retried in the stall: {retried_in_stall.status_code}, then {settled.status_code}"
            )
            # What the user sees: one message, one answer.
            assert roles(items) == ["user", "assistant", "user", "assistant"], items
            assert items[2]["id"] == settled.json()["message"]["id"]
            assert items[3]["id"] == settled.json()["reply_id"] and items[3]["status"] == "completed"
            assert_one_completed_reply(events, settled.json()["reply_id"])
            await assert_whole_stream_has_one_reply(infra.redis_url, settled.json()["reply_id"], items[3])
            # And what it was told: never "nothing was accepted" for a record that then arrived.
            assert stalled.status_code == 504, stalled.text
            assert stalled.json()["error"]["code"] == "outcome_unknown"
            assert int(stalled.headers["Retry-After"]) > 0
