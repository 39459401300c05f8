"""The orchestrator as a process (issue 2), driven through Kafka and read back through Redis and
its internal API, with the real local model: the chat path, stop, titles, `chat.completed`,
and poison requests ending in the DLQ with an `error` on their reply stream."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from alice_common.events import ChatCompleted, ChatRequested, new_id, parse_event
from devstack.testing import ServiceProcess, service_env, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

TOKEN = "e2e-orchestrator-token"


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"e2e-orch-{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def service(infra, prefix) -> Iterator[ServiceProcess]:
    """One orchestrator process for the module (starting one costs seconds)."""
    env = service_env(
        infra,
        kafka_topic_prefix=prefix,
        mongodb_database=unique_name("e2e_orch"),
        alice_internal_token=TOKEN,
        llm_provider="local",
        llm_max_tokens=40,
        llm_temperature=0.0,
        chat_max_attempts=2,
    )
    with ServiceProcess("orchestrator", env, ready_timeout_s=120) as svc:
        yield svc


@pytest.fixture
async def orchestrator(service, infra):
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    headers = {"X-Internal-Token": TOKEN}
    async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=30) as http:
        yield service, producer, redis, http
    await producer.stop()
    await redis.aclose()


async def follow(redis, reply_id: str, on_event=None, timeout_s: float = 120) -> list[tuple[str, dict]]:
    """Reads `reply:{id}` from the start until `done` or `error`."""
    events: list[tuple[str, dict]] = []
    last = "0"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await redis.xread({f"reply:{reply_id}": last}, block=1000)
        for _key, entries in found or []:
            for entry_id, fields in entries:
                last = entry_id
                event = (fields["event"], json.loads(fields["data"]))
                events.append(event)
                if on_event is not None:
                    await on_event(event)
                if event[0] in ("done", "error"):
                    return events
    raise AssertionError(f"no done/error on reply:{reply_id} within {timeout_s}s: {events}")


def reader(infra, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic, bootstrap_servers=infra.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )


async def new_conversation(http, user: str) -> str:
    response = await http.post("/internal/conversations", params={"user_id": user}, json={})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def send(producer, prefix: str, request: ChatRequested) -> None:
    await producer.send_and_wait(
        f"{prefix}chat.requests", request.to_bytes(), key=request.conversation_id.encode()
    )


async def test_ready_reports_the_consumer(orchestrator):
    _svc, _producer, _redis, http = orchestrator
    body = (await http.get("/ready")).json()
    assert body["status"] == "ready" and body["checks"]["consumer"] == "ok"


async def test_a_request_becomes_a_streamed_stored_titled_and_announced_reply(orchestrator, prefix, infra):
    _svc, producer, redis, http = orchestrator
    user = "user" + new_id()
    conversation = await new_conversation(http, user)
    request = ChatRequested(
        conversation_id=conversation,
        user_id=user,
        message_id=new_id(),
        reply_id=new_id(),
        content="What is the capital of France?",
    )
    await send(producer, prefix, request)
    events = await follow(redis, request.reply_id)
    kinds = [k for k, _ in events]
    assert kinds[0] == "status" and kinds[-1] == "done" and "token" in kinds, kinds
    done = events[-1][1]["message"]
    assert (
        done["content"] == "".join(d["delta"] for k, d in events if k == "token") and done["content"].strip()
    )
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

    consumer = AIOKafkaConsumer(
        f"{prefix}chat.completed",
        bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
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
    user = "user" + new_id()
    conversation = await new_conversation(http, user)
    request = ChatRequested(
        conversation_id=conversation,
        user_id=user,
        message_id=new_id(),
        reply_id=new_id(),
        content="Write a long story about a dragon who learns to bake bread.",
    )
    stopped_at: dict[str, float] = {}

    async def stop_after_first_token(event):
        if event[0] == "token" and not stopped_at:
            await redis.set(f"cancel:{request.reply_id}", "1", ex=60)
            stopped_at["t"] = time.monotonic()

    await send(producer, prefix, request)
    events = await follow(redis, request.reply_id, on_event=stop_after_first_token)
    assert time.monotonic() - stopped_at["t"] < 1.0
    done = events[-1]
    assert done[0] == "done" and done[1]["message"]["status"] == "stopped"
    assert done[1]["message"]["content"] == "".join(d["delta"] for k, d in events if k == "token")
    stored = (await http.get(f"/internal/replies/{request.reply_id}", params={"user_id": user})).json()
    assert stored["status"] == "stopped"


async def test_a_poison_request_goes_to_the_dlq_and_its_stream_gets_an_error(orchestrator, prefix, infra):
    _svc, producer, redis, _http = orchestrator
    reply_id, user = new_id(), "user" + new_id()
    await redis.zadd(f"active:{user}", {reply_id: time.time()})
    # Valid JSON, recoverable reply id, but not a valid ChatRequested (no conversation, no content).
    poison = json.dumps({"type": "ChatRequested", "reply_id": reply_id, "user_id": user}).encode()
    await producer.send_and_wait(f"{prefix}chat.requests", poison, key=b"poison")
    events = await follow(redis, reply_id, timeout_s=60)
    assert events[-1] == (
        "error",
        {"code": "invalid_request", "message": "The message could not be processed."},
    )
    assert await redis.zscore(f"active:{user}", reply_id) is None

    consumer = AIOKafkaConsumer(
        f"{prefix}chat.requests.dlq",
        bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
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
