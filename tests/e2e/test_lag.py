"""Lag acceptance: 10,000 `ChatCompleted` events wait while the dataflow is stopped; kafkaflow
reports exactly that lag for group `dataflow` on `chat.completed` (in /metrics and /api/flows);
once the real dataflow runs again the lag drains to 0.

The dataflow runs once before the outage, as in any real deployment: a consumer group that has
never committed an offset does not exist in Kafka, so nobody could report its lag.
"""

import asyncio
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from alice_common import topics
from alice_common.events import ChatCompleted, Usage
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import Stack, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

TOKEN = "lag-e2e-token-long-enough-to-be-a-secret"
EVENTS = 10_000
WARM_UP = 12
# Many conversations and a wide consumer, as in production: the dataflow works on different
# conversations concurrently, so the drain is bounded by embedding and Weaviate, not by one key.
CONVERSATIONS = 1000
CHAT_CONCURRENCY = 64
# The drain runs at the dataflow's real speed: 10,000 took 180 s (55 events/s) on a shared 2-core
# machine; the bound leaves room for a much busier one.
DRAIN_TIMEOUT_S = 900


def _events(count: int, users: list[str]) -> list[ChatCompleted]:
    conversations = [(users[i % len(users)], uuid.uuid4().hex) for i in range(CONVERSATIONS)]
    events = []
    for i in range(count):
        user, conversation = conversations[i % len(conversations)]
        events.append(
            ChatCompleted(
                conversation_id=conversation,
                user_id=user,
                user_message_id=uuid.uuid4().hex,
                assistant_message_id=uuid.uuid4().hex,
                reply_id=uuid.uuid4().hex,
                user_content=f"question {i} about the harbour",
                assistant_content=f"answer {i}",
                usage=Usage(prompt_tokens=5, completion_tokens=2, latency_ms=40.0),
            )
        )
    return events


async def _publish(servers: str, topic: str, events: list[ChatCompleted]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, value=e.to_bytes(), key=e.conversation_id.encode()) for e in events
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


class Kafkaflow:
    def __init__(self, url: str, group: str, topic: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, headers={"X-Internal-Token": TOKEN}, timeout=30)
        self.group, self.topic = group, topic
        self.max_consume_rate = 0.0

    async def flows_lag(self) -> int | None:
        body = (await self.http.get("/api/flows", params={"refresh": "true"})).json()
        edges = [e for e in body["edges"] if e["kind"] == "consumes" and e["to"] == "group:dataflow"]
        edges = [e for e in edges if e["from"] == f"topic:{topics.CHAT_COMPLETED.name}"]
        if not edges:
            return None
        self.max_consume_rate = max(self.max_consume_rate, edges[0]["messages_per_second"])
        return edges[0]["lag"]

    async def metrics_lag(self) -> float | None:
        text = (await self.http.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "kafka_consumergroup_lag_sum" and s.labels == {
                    "consumergroup": self.group,
                    "topic": self.topic,
                }:
                    return s.value
        return None

    async def wait_for_lag(self, expected: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        seen = None
        while time.monotonic() < deadline:
            seen = (await self.flows_lag(), await self.metrics_lag())
            if seen == (expected, expected):
                return
            await asyncio.sleep(2)
        raise AssertionError(f"lag (flows, metrics) {seen} never became {expected} in {timeout_s}s")


async def test_lag_is_reported_then_drains_when_the_dataflow_runs(infra):
    shared = isolation("lag") | {"alice_internal_token": TOKEN}
    prefix = shared["kafka_topic_prefix"]
    topic, group = (
        f"{prefix}{topics.CHAT_COMPLETED.name}",
        f"{prefix}{topics.CHAT_COMPLETED.group_of('dataflow')}",
    )
    users = [uuid.uuid4().hex for _ in range(4)]
    dataflow_settings = {"chat_concurrency": CHAT_CONCURRENCY, "ready_timeout_s": 240}
    with Stack(infra, shared, dataflow=dataflow_settings, kafkaflow={"poll_interval_s": 1}) as up:
        dataflow = up["dataflow"]
        kafkaflow = Kafkaflow(up["kafkaflow"].url, group, topic)
        try:
            # The dataflow runs, consumes and commits, then goes away.
            await _publish(infra.kafka_bootstrap_servers, topic, _events(WARM_UP, users))
            await kafkaflow.wait_for_lag(0, timeout_s=120)
            dataflow.stop()

            await _publish(infra.kafka_bootstrap_servers, topic, _events(EVENTS, users))
            await kafkaflow.wait_for_lag(EVENTS, timeout_s=30)
            body = (await kafkaflow.http.get("/api/flows")).json()
            [node] = [n for n in body["nodes"] if n["id"] == "group:dataflow"]
            assert (node["members"], node["lag"]) == (0, EVENTS)

            dataflow.start(wait_ready=False)
            started = time.monotonic()
            dataflow.wait_ready(timeout_s=240)
            await kafkaflow.wait_for_lag(0, timeout_s=DRAIN_TIMEOUT_S)
            drained_in = time.monotonic() - started
            print(f"lag {EVENTS} drained in {drained_in:.0f}s ({EVENTS / drained_in:.1f} events/s)")
            assert kafkaflow.max_consume_rate > 0  # kafkaflow saw the group consume while draining
            body = (await kafkaflow.http.get("/api/flows")).json()
            [node] = [n for n in body["nodes"] if n["id"] == "group:dataflow"]
            assert node["members"] >= 1
        finally:
            await kafkaflow.http.aclose()
