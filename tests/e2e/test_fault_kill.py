"""Fault tolerance of the chat path (issue 2): SIGKILL the orchestrator mid-reply, start a new one.

The client keeps its SSE stream open through the crash and sees `reset` followed by a complete
reply (`done`); exactly one assistant message is stored for the request. Real processes, real
Kafka/Redis/MongoDB and the real local model.
"""

import asyncio
import json
import time
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from alice_common.events import ChatRequested, new_id
from devstack.testing import ServiceProcess, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


async def read_events(client: httpx.AsyncClient, url: str, headers: dict, on_event) -> list[dict]:
    events: list[dict] = []
    async with client.stream("GET", url, headers=headers, timeout=300) as response:
        assert response.status_code == 200, await response.aread()
        current: dict = {}
        data: list[str] = []
        async for line in response.aiter_lines():
            if line == "":
                if "event" in current:
                    current["data"] = json.loads("\n".join(data))
                    events.append(current)
                    await on_event(current)
                    if current["event"] in ("done", "error"):
                        break
                current, data = {}, []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                elif name in ("id", "event"):
                    current[name] = value
    return events


async def test_sigkill_mid_reply_then_a_new_replica_resets_and_completes(infra):
    isolation = {
        "mongodb_database": f"e2e_fault_{uuid.uuid4().hex[:8]}",
        "kafka_topic_prefix": f"e2e-fault-{uuid.uuid4().hex[:8]}.",
    }
    orchestrator_env = service_env(
        infra,
        **isolation,
        llm_provider="local",
        # Long enough that the kill lands mid-reply, short enough to keep the test quick.
        llm_max_tokens=48,
        llm_temperature=0.0,
        chat_consumer_session_timeout_ms=6000,
    )
    orchestrator = ServiceProcess("orchestrator", orchestrator_env, ready_timeout_s=120).start()
    backend = ServiceProcess(
        "backend", service_env(infra, **isolation, orchestrator_url=orchestrator.url)
    ).start()
    try:
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
            registered = await client.post(
                "/api/auth/register",
                json={"email": f"fault-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-" + "x" * 12},
            )
            assert registered.status_code == 201, registered.text
            auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
            conversation = (await client.post("/api/conversations", headers=auth, json={})).json()["id"]
            accepted = await client.post(
                f"/api/conversations/{conversation}/messages",
                headers=auth,
                json={"content": "Write a few sentences about the sea."},
            )
            assert accepted.status_code == 202, accepted.text
            reply_id = accepted.json()["reply_id"]

            killed = {"at": None}

            async def on_event(event: dict) -> None:
                if event["event"] == "token" and killed["at"] is None:
                    killed["at"] = time.monotonic()
                    await asyncio.to_thread(orchestrator.kill)  # SIGKILL: no shutdown code runs
                    await asyncio.to_thread(orchestrator.start)  # same port, same group

            events = await read_events(client, accepted.json()["stream_url"], auth, on_event)
            kinds = [e["event"] for e in events]
            assert killed["at"] is not None, f"no token before the stream ended: {kinds}"
            assert kinds[-1] == "done", kinds
            assert "reset" in kinds, kinds
            first_token, reset = kinds.index("token"), kinds.index("reset")
            assert first_token < reset
            after_reset = events[reset + 1 :]
            text = "".join(e["data"]["delta"] for e in after_reset if e["event"] == "token")
            done = events[-1]["data"]["message"]
            assert done["id"] == reply_id and done["status"] == "completed"
            assert done["content"] == text and text.strip()

            messages = (await client.get(f"/api/conversations/{conversation}/messages", headers=auth)).json()
            replies = [m for m in messages["items"] if m["role"] == "assistant"]
            assert len(messages["items"]) == 2 and len(replies) == 1
            assert replies[0]["id"] == reply_id and replies[0]["content"] == done["content"]
    finally:
        backend.stop()
        orchestrator.stop()


async def test_sigterm_mid_reply_finishes_or_hands_over_without_duplicates(infra):
    """Graceful shutdown: the replica stops fetching, lets the reply finish (or abandons it
    uncommitted after its drain timeout); after a restart the stream ends with exactly one
    `done` and exactly one reply is stored."""
    prefix = f"e2e-term-{uuid.uuid4().hex[:8]}."
    token = "e2e-term-token"
    env = service_env(
        infra,
        kafka_topic_prefix=prefix,
        mongodb_database=f"e2e_term_{uuid.uuid4().hex[:8]}",
        alice_internal_token=token,
        llm_provider="local",
        llm_max_tokens=48,
        llm_temperature=0.0,
        chat_consumer_session_timeout_ms=6000,
    )
    orchestrator = ServiceProcess("orchestrator", env, ready_timeout_s=120).start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    try:
        async with httpx.AsyncClient(base_url=orchestrator.url, headers={"X-Internal-Token": token}) as http:
            user = "user" + new_id()
            conversation = (
                await http.post("/internal/conversations", params={"user_id": user}, json={})
            ).json()["id"]
        request = ChatRequested(
            conversation_id=conversation,
            user_id=user,
            message_id=new_id(),
            reply_id=new_id(),
            content="Write a few sentences about mountains.",
        )
        await producer.send_and_wait(f"{prefix}chat.requests", request.to_bytes(), key=conversation.encode())
        key, last, events = f"reply:{request.reply_id}", "0", []
        deadline = time.monotonic() + 180
        terminated = False
        while not events or events[-1][0] not in ("done", "error"):
            assert time.monotonic() < deadline, events
            for _k, entries in await redis.xread({key: last}, block=1000) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    events.append((fields["event"], json.loads(fields["data"])))
            if not terminated and any(kind == "token" for kind, _ in events):
                terminated = True
                stopping = time.monotonic()
                await asyncio.to_thread(orchestrator.stop, 40)  # SIGTERM, SIGKILL only after 40 s
                assert not orchestrator.running
                assert time.monotonic() - stopping < 35, "graceful shutdown took too long"
                await asyncio.to_thread(orchestrator.start)
        kinds = [kind for kind, _ in events]
        assert kinds.count("done") == 1 and kinds[-1] == "done", kinds
        if "reset" in kinds:
            after = events[kinds.index("reset") + 1 :]
        else:
            after = events
        text = "".join(data["delta"] for kind, data in after if kind == "token")
        assert events[-1][1]["message"]["content"] == text and text.strip()
        async with httpx.AsyncClient(base_url=orchestrator.url, headers={"X-Internal-Token": token}) as http:
            listed = await http.get(
                f"/internal/conversations/{conversation}/messages", params={"user_id": user}
            )
        roles = [m["role"] for m in listed.json()["items"]]
        assert roles == ["user", "assistant"]
    finally:
        await producer.stop()
        await redis.aclose()
        orchestrator.stop()
