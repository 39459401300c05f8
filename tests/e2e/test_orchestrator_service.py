"""The orchestrator as a process (issue 2), driven through Kafka and read back through Redis and
its internal API, with the real local model: the chat path, stop, titles, `chat.completed`,
and poison requests ending in the DLQ with an `error` on their reply stream."""

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from alice_common import topics
from alice_common.events import ChatCompleted, ChatRequested, new_id, parse_event
from alice_common.reply_stream import DONE, FAILED, STATUS, TOKEN, active_key, cancel_key
from devstack.testing import ServiceProcess

from tests.support.stack import Stack, follow, isolation, kafka_and_redis, new_chat_request, publish_chat

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

INTERNAL_TOKEN = "e2e-orchestrator-token-long-enough-to-be-a-secret"
SETTINGS = isolation("orch") | {"alice_internal_token": INTERNAL_TOKEN}


@pytest.fixture(scope="module")
def prefix() -> str:
    return SETTINGS["kafka_topic_prefix"]


@pytest.fixture(scope="module")
def service(infra) -> Iterator[ServiceProcess]:
    """One orchestrator process for the module (starting one costs seconds)."""
    orchestrator = dict(
        llm_provider="local", llm_max_tokens=40, llm_temperature=0.0, chat_max_attempts=2, ready_timeout_s=120
    )
    with Stack(infra, SETTINGS, orchestrator=orchestrator) as up:
        yield up["orchestrator"]


@pytest.fixture
async def orchestrator(service, infra):
    headers = {"X-Internal-Token": INTERNAL_TOKEN}
    async with (
        kafka_and_redis(infra) as (producer, redis),
        httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http,
    ):
        yield service, producer, redis, http


def reader(infra, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )


async def test_ready_reports_the_consumer(orchestrator):
    _svc, _producer, _redis, http = orchestrator
    body = (await http.get("/ready")).json()
    assert body["status"] == "ready" and body["checks"]["consumer"] == "ok"


async def test_a_request_becomes_a_streamed_stored_titled_and_announced_reply(orchestrator, prefix, infra):
    _svc, producer, redis, http = orchestrator
    request = await new_chat_request(http, "What is the capital of France?")
    user, conversation = request.user_id, request.conversation_id
    await publish_chat(producer, prefix, request)
    events = await follow(redis, request.reply_id)
    kinds = [k for k, _ in events]
    assert kinds[0] == STATUS and kinds[-1] == DONE and TOKEN in kinds, kinds
    done = events[-1][1]["message"]
    assert done["content"] == "".join(d["delta"] for k, d in events if k == TOKEN) and done["content"].strip()
    assert done["usage"]["completion_tokens"] >= 1 and done["usage"]["prompt_tokens"] > 0
    assert done["model"].startswith("SmolLM2")

    listed = (
        await http.get(f"/internal/conversations/{conversation}/messages", params={"user_id": user})
    ).json()
    assert [(m["role"], m["content"]) for m in listed["items"]] == [
        ("user", request.content),
        ("assistant", done["content"]),
    ]
    reply = (await http.get(f"/internal/replies/{request.reply_id}", params={"user_id": user})).json()
    assert reply.pop("finish_reason") in ("stop", "length"), "why the model ended the reply"
    assert reply == {
        "reply_id": request.reply_id,
        "conversation_id": conversation,
        "message_id": request.message_id,
        "status": "completed",
    }

    deadline = time.monotonic() + 60
    title = None
    while time.monotonic() < deadline and not title:
        title = (await http.get(f"/internal/conversations/{conversation}", params={"user_id": user})).json()[
            "title"
        ]
        await asyncio.sleep(0.3)
    assert title and len(title) <= 61

    consumer = reader(infra, f"{prefix}{topics.CHAT_COMPLETED.name}")
    await consumer.start()
    try:
        completed = None
        deadline = time.monotonic() + 30
        while completed is None and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    event = parse_event(record.value)
                    if isinstance(event, ChatCompleted) and event.reply_id == request.reply_id:
                        completed = (record.key, event)
        assert completed is not None, "no ChatCompleted for the reply"
        key, event = completed
        assert key == conversation.encode()
        assert event.assistant_content == done["content"] and event.user_content == request.content
    finally:
        await consumer.stop()


async def test_stop_ends_the_reply_within_a_second_keeping_partial_content(orchestrator, prefix):
    _svc, producer, redis, http = orchestrator
    request = await new_chat_request(http, "Write a long story about a dragon who learns to bake bread.")
    user = request.user_id
    stopped_at: dict[str, float] = {}

    async def stop_after_first_token(event):
        if event[0] == TOKEN and not stopped_at:
            await redis.set(cancel_key(request.reply_id), "1", ex=60)
            stopped_at["t"] = time.monotonic()

    await publish_chat(producer, prefix, request)
    events = await follow(redis, request.reply_id, on_event=stop_after_first_token)
    assert time.monotonic() - stopped_at["t"] < 1.0
    done = events[-1]
    assert done[0] == DONE and done[1]["message"]["status"] == "stopped"
    assert done[1]["message"]["content"] == "".join(d["delta"] for k, d in events if k == TOKEN)
    stored = (await http.get(f"/internal/replies/{request.reply_id}", params={"user_id": user})).json()
    assert stored["status"] == "stopped"


async def test_a_poison_request_goes_to_the_dlq_and_its_stream_ends_failed(orchestrator, prefix, infra):
    _svc, producer, redis, _http = orchestrator
    reply_id, user = new_id(), "user" + new_id()
    await redis.zadd(active_key(user), {reply_id: time.time()})
    # Valid JSON, recoverable reply id, but not a valid ChatRequested (no conversation, no content).
    poison = json.dumps({"type": "ChatRequested", "reply_id": reply_id, "user_id": user}).encode()
    await producer.send_and_wait(f"{prefix}{topics.CHAT_REQUESTS.name}", poison, key=b"poison")
    events = await follow(redis, reply_id, timeout_s=60)
    assert events[-1] == (
        FAILED,
        {"code": "invalid_request", "message": "The message could not be processed."},
    )
    assert await redis.zscore(active_key(user), reply_id) is None

    consumer = reader(infra, f"{prefix}{topics.CHAT_REQUESTS.dlq}")
    await consumer.start()
    try:
        found = []
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            found = [r for records in batch.values() for r in records if r.value == poison]
        assert found, "the poison record is not in the DLQ"
        headers = dict(found[0].headers)
        assert headers["dlq.error_type"] == b"InvalidRequest"
    finally:
        await consumer.stop()


async def test_copies_of_one_request_store_one_message_and_one_reply(orchestrator, prefix):
    """A send retried with its `Idempotency-Key` after an unknown outcome publishes the SAME ids
    again, so copies of one request arrive (issue 22): one while the first is still generating,
    one after it ended. The user message and the reply are stored once, and the stream holds one
    attempt, one `done` and nothing after it."""
    _svc, producer, redis, http = orchestrator
    request = await new_chat_request(http, "Name a colour.")

    def copy() -> ChatRequested:  # what the backend's retry publishes: same ids, a new event
        return ChatRequested(**request.model_dump(exclude={"event_id", "occurred_at", "trace_id"}))

    await publish_chat(producer, prefix, request)
    await publish_chat(producer, prefix, copy())
    first = await follow(redis, request.reply_id)
    assert first[-1][0] == DONE, first
    await publish_chat(producer, prefix, copy())
    # The late copy is handled in order behind the others; then nothing more may change.
    await asyncio.sleep(3)
    fields = [f for _id, f in await redis.xrange(f"reply:{request.reply_id}")]
    kinds = [f["event"] for f in fields]
    assert kinds.count(DONE) == 1 and kinds[-1] == DONE and FAILED not in kinds, kinds
    assert "reset" not in kinds, kinds
    listed = (
        await http.get(
            f"/internal/conversations/{request.conversation_id}/messages", params={"user_id": request.user_id}
        )
    ).json()["items"]
    assert [(m["id"], m["role"]) for m in listed] == [
        (request.message_id, "user"),
        (request.reply_id, "assistant"),
    ]
    assert listed[1]["content"] == json.loads(fields[-1]["data"])["message"]["content"]
