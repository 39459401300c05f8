"""Kafkaflow against a real Kafka: exact lag per partition and sum, in /api/flows and /metrics."""

import asyncio

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

TOKEN = "kafkaflow-test-token-long-enough-to-be-a-secret"


@pytest.fixture
def prefix(infra, unique_name) -> str:
    return f"{infra.kafka_topic_prefix}{unique_name('kf')}."


@pytest.fixture
def kafkaflow(start_service, prefix):
    return start_service(
        "kafkaflow",
        kafka_topic_prefix=prefix,
        alice_internal_token=TOKEN,
        poll_interval_s=1,
        rate_window_s=10,
    )


async def _create_topic(servers: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _produce(servers: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True)
    await producer.start()
    try:
        sends = [
            await producer.send(topic, value=f"r{p}-{i}".encode(), partition=p)
            for p, count in per_partition.items()
            for i in range(count)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def _commit(servers: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


def _metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_snapshot_and_metrics_show_exact_lag_per_partition_and_sum(infra, kafkaflow, prefix):
    servers = infra.kafka_bootstrap_servers
    topic, group = f"{prefix}orders", f"{prefix}billing"
    await _create_topic(servers, topic, 3)
    await _produce(servers, topic, {0: 10, 1: 7, 2: 5})
    # The group read 4 records of partition 0 and all of partition 1; partition 2 never committed.
    await _commit(servers, group, {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 7})

    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
        response = await http.get("/api/flows", params={"refresh": "true"})
        assert response.status_code == 200
        body = response.json()
        assert body["prefix"] == prefix
        nodes = {n["id"]: n for n in body["nodes"]}
        assert nodes["topic:orders"]["partitions"] == 3
        assert nodes["topic:orders"]["end_offset"] == 22
        assert nodes["group:billing"]["kafka_name"] == group
        assert nodes["group:billing"]["lag"] == 6 + 0 + 5
        [edge] = [e for e in body["edges"] if e["to"] == "group:billing"]
        assert (edge["from"], edge["kind"], edge["lag"]) == ("topic:orders", "consumes", 11)
        assert edge["partitions"] == [
            {"partition": 0, "end_offset": 10, "committed_offset": 4, "lag": 6},
            {"partition": 1, "end_offset": 7, "committed_offset": 7, "lag": 0},
            {"partition": 2, "end_offset": 5, "committed_offset": -1, "lag": 5},
        ]

        metrics = _metric_samples((await http.get("/metrics")).text)
    g, t = ("consumergroup", group), ("topic", topic)
    assert metrics[("kafka_consumergroup_lag", (g, ("partition", "0"), t))] == 6
    assert metrics[("kafka_consumergroup_lag", (g, ("partition", "1"), t))] == 0
    assert metrics[("kafka_consumergroup_lag", (g, ("partition", "2"), t))] == 5
    assert metrics[("kafka_consumergroup_lag_sum", (g, t))] == 11
    assert metrics[("kafka_consumergroup_current_offset", (g, ("partition", "0"), t))] == 4
    assert metrics[("kafka_topic_partitions", (t,))] == 3
    assert metrics[("kafka_topic_partition_current_offset", (("partition", "0"), t))] == 10
    assert metrics[("kafka_topic_partition_oldest_offset", (("partition", "0"), t))] == 0
    assert metrics[("kafka_brokers", ())] >= 1
    assert any(name == "kafka_broker_info" for name, _ in metrics)
    assert metrics[("kafka_topic_partition_replicas", (("partition", "2"), t))] == 1
    assert metrics[("kafka_topic_partition_in_sync_replica", (("partition", "2"), t))] == 1
    assert metrics[("kafka_topic_partition_under_replicated_partition", (("partition", "2"), t))] == 0
    assert metrics[("kafka_topic_partition_leader", (("partition", "2"), t))] >= 0
    # Only this deployment's prefix is watched.
    topics = {dict(labels)["topic"] for _, labels in metrics if "topic" in dict(labels)}
    assert topics and all(name.startswith(prefix) for name in topics)


async def test_lag_follows_new_commits_and_produce_rate_rises(infra, kafkaflow, prefix):
    servers = infra.kafka_bootstrap_servers
    topic, group = f"{prefix}events", f"{prefix}indexer"
    await _create_topic(servers, topic, 1)
    await _produce(servers, topic, {0: 50})
    await _commit(servers, group, {TopicPartition(topic, 0): 20})

    async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:

        async def lag_and_rate() -> tuple[int, float]:
            body = (await http.get("/api/flows", params={"refresh": "true"})).json()
            nodes = {n["id"]: n for n in body["nodes"]}
            return nodes["group:indexer"]["lag"], nodes["topic:events"]["messages_per_second"]

        assert (await lag_and_rate())[0] == 30
        await asyncio.sleep(1.0)
        await _produce(servers, topic, {0: 100})
        await _commit(servers, group, {TopicPartition(topic, 0): 150})
        lag, rate = await lag_and_rate()
        assert lag == 0
        assert rate > 0
        metrics = _metric_samples((await http.get("/metrics")).text)
    assert metrics[("kafkaflow_topic_messages_per_second", (("topic", topic),))] > 0
    assert (
        metrics[("kafkaflow_consumergroup_messages_per_second", (("consumergroup", group), ("topic", topic)))]
        > 0
    )


async def test_flows_need_the_internal_token(kafkaflow):
    async with httpx.AsyncClient(base_url=kafkaflow.url) as http:
        for headers in ({}, {"X-Internal-Token": "wrong"}):
            response = await http.get("/api/flows", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"


async def test_live_groups_show_state_members_and_lag_of_assigned_partitions(infra, kafkaflow, prefix):
    servers = infra.kafka_bootstrap_servers
    topic = f"{prefix}live"
    await _create_topic(servers, topic, 2)
    await _produce(servers, topic, {0: 3, 1: 4})
    consumers = [
        AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id=f"{prefix}{name}")
        for name in ("reader-a", "reader-b")
    ]
    try:
        for consumer in consumers:
            await consumer.start()
        for consumer in consumers:  # joined and assigned, nothing consumed or committed
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
        async with httpx.AsyncClient(base_url=kafkaflow.url, headers={"X-Internal-Token": TOKEN}) as http:
            body = (await http.get("/api/flows", params={"refresh": "true"})).json()
        nodes = {n["id"]: n for n in body["nodes"]}
        for name in ("reader-a", "reader-b"):
            node = nodes[f"group:{name}"]
            assert (node["state"], node["members"], node["lag"]) == ("Stable", 1, 7)
    finally:
        for consumer in consumers:
            await consumer.stop()
