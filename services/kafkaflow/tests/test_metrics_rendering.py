from alice_kafkaflow.collector import KafkaSnapshotCollector
from alice_kafkaflow.snapshot import (
    GroupState,
    GroupTopicLag,
    PartitionLag,
    PartitionOffsets,
    Snapshot,
    TopicState,
)
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families


def _snapshot(with_group: bool = True) -> Snapshot:
    partitions = (PartitionOffsets(0, 0, 60, 1, (1, 2), (1, 2)), PartitionOffsets(1, 2, 40, 1, (2, 1), (1,)))
    topic = TopicState("p.chat.completed", partitions, messages_per_second=12.5)
    groups = {}
    if with_group:
        lag = GroupTopicLag(
            "p.chat.completed",
            (PartitionLag(0, 60, 50, 10), PartitionLag(1, 40, -1, 38)),
            messages_per_second=4.0,
        )
        groups["p.dataflow"] = GroupState("p.dataflow", "Stable", 2, (lag,))
    brokers = {1: "k1:9092", 2: "k2:9092", 3: "k3:9092"}
    return Snapshot(100.0, 3, brokers, topics={topic.name: topic}, groups=groups)


def _render(snapshot: Snapshot | None) -> str:
    registry = CollectorRegistry()
    registry.register(KafkaSnapshotCollector(lambda: snapshot, clock=lambda: 103.0))
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_kafka_exporter_names_labels_and_values():
    samples = _samples(_render(_snapshot()))
    g, t = ("consumergroup", "p.dataflow"), ("topic", "p.chat.completed")
    assert samples[("kafka_brokers", ())] == 3
    assert samples[("kafka_broker_info", (("address", "k2:9092"), ("id", "2")))] == 2
    p0, p1 = (("partition", "0"), t), (("partition", "1"), t)
    assert samples[("kafka_topic_partition_leader", p1)] == 1
    assert samples[("kafka_topic_partition_leader_is_preferred", p0)] == 1
    assert samples[("kafka_topic_partition_leader_is_preferred", p1)] == 0
    assert samples[("kafka_topic_partition_replicas", p1)] == 2
    assert samples[("kafka_topic_partition_in_sync_replica", p1)] == 1
    assert samples[("kafka_topic_partition_under_replicated_partition", p0)] == 0
    assert samples[("kafka_topic_partition_under_replicated_partition", p1)] == 1
    assert samples[("kafka_topic_partitions", (t,))] == 2
    assert samples[("kafka_topic_partition_current_offset", (("partition", "1"), t))] == 40
    assert samples[("kafka_topic_partition_oldest_offset", (("partition", "1"), t))] == 2
    assert samples[("kafka_consumergroup_lag", (g, ("partition", "0"), t))] == 10
    assert samples[("kafka_consumergroup_lag", (g, ("partition", "1"), t))] == 38
    assert samples[("kafka_consumergroup_lag_sum", (g, t))] == 48
    assert samples[("kafka_consumergroup_current_offset", (g, ("partition", "1"), t))] == -1
    assert samples[("kafka_consumergroup_current_offset_sum", (g, t))] == 50
    assert samples[("kafka_consumergroup_members", (g,))] == 2
    assert samples[("kafkaflow_topic_messages_per_second", (t,))] == 12.5
    assert samples[("kafkaflow_consumergroup_messages_per_second", (g, t))] == 4.0
    assert samples[("kafkaflow_snapshot_age_seconds", ())] == 3.0


def test_exposition_is_gauges_with_help_lines():
    text = _render(_snapshot())
    assert "# TYPE kafka_consumergroup_lag gauge" in text
    assert "# HELP kafka_consumergroup_lag_sum Current Approximate Lag of a ConsumerGroup" in text
    line = 'kafka_consumergroup_lag{consumergroup="p.dataflow",partition="0",topic="p.chat.completed"} 10.0'
    assert line in text.splitlines()


def test_a_group_that_disappears_leaves_no_stale_series():
    state = {"snapshot": _snapshot()}
    registry = CollectorRegistry()
    registry.register(KafkaSnapshotCollector(lambda: state["snapshot"]))
    assert "p.dataflow" in generate_latest(registry).decode()
    state["snapshot"] = _snapshot(with_group=False)
    text = generate_latest(registry).decode()
    assert "p.dataflow" not in text
    assert 'kafka_topic_partitions{topic="p.chat.completed"} 2.0' in text


def test_nothing_is_rendered_before_the_first_snapshot():
    assert "kafka_" not in _render(None)
