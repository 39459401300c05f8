"""Prometheus collector rendering the latest snapshot under the Kafka exporter's names and labels.

Names, labels and help texts follow danielqsj/kafka_exporter so its dashboards, KEDA's
Prometheus scaler and prometheus-adapter rules work unchanged. Every scrape renders the latest
snapshot from scratch, so a deleted topic or group disappears from /metrics at the next poll.
"""

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alice_kafkaflow.snapshot import Snapshot


class KafkaSnapshotCollector(Collector):
    def __init__(self, latest: Callable[[], Snapshot | None], clock: Callable[[], float] = time.time) -> None:
        self._latest = latest
        self._clock = clock

    def describe(self) -> list:
        return []  # metric families depend on the cluster; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._latest()
        if snapshot is None:
            return
        yield from _broker_metrics(snapshot)
        yield from _topic_metrics(snapshot)
        yield from _group_metrics(snapshot)
        yield GaugeMetricFamily(
            "kafkaflow_snapshot_age_seconds",
            "Seconds since the snapshot behind these metrics was taken",
            value=max(self._clock() - snapshot.taken_at, 0.0),
        )
        yield GaugeMetricFamily(
            "kafkaflow_poll_duration_seconds",
            "Time the last poll of the cluster took",
            value=snapshot.poll_duration_s,
        )


def _broker_metrics(snapshot: Snapshot) -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily(
        "kafka_brokers", "Number of Brokers in the Kafka Cluster.", value=snapshot.brokers
    )
    info = GaugeMetricFamily(
        "kafka_broker_info", "Information about the Kafka Broker.", labels=["address", "id"]
    )
    for node_id, address in sorted(snapshot.broker_addresses.items()):
        info.add_metric([address, str(node_id)], node_id)
    yield info


def _gauges(labels: list[str], specs: tuple) -> list[tuple[GaugeMetricFamily, Callable]]:
    """One gauge per (name, help text, value function) spec, all with the same labels."""
    return [(GaugeMetricFamily(name, help_text, labels=labels), value) for name, help_text, value in specs]


TOPIC_GAUGES = (
    ("kafka_topic_partitions", "Number of partitions for this Topic", lambda t: len(t.partitions)),
    (
        "kafkaflow_topic_messages_per_second",
        "Records produced to this Topic per second (end-offset slope over the rate window)",
        lambda t: t.messages_per_second,
    ),
)
TOPIC_PARTITION_GAUGES = (
    (
        "kafka_topic_partition_current_offset",
        "Current Offset of a Broker at Topic/Partition",
        lambda p: p.end_offset,
    ),
    (
        "kafka_topic_partition_oldest_offset",
        "Oldest Offset of a Broker at Topic/Partition",
        lambda p: p.oldest_offset,
    ),
    ("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", lambda p: p.leader),
    (
        "kafka_topic_partition_leader_is_preferred",
        "1 if Topic/Partition is using the Preferred Broker",
        lambda p: int(bool(p.replicas) and p.replicas[0] == p.leader),
    ),
    (
        "kafka_topic_partition_replicas",
        "Number of Replicas for this Topic/Partition",
        lambda p: len(p.replicas),
    ),
    (
        "kafka_topic_partition_in_sync_replica",
        "Number of In-Sync Replicas for this Topic/Partition",
        lambda p: len(p.in_sync_replicas),
    ),
    (
        "kafka_topic_partition_under_replicated_partition",
        "1 if Topic/Partition is under Replicated",
        lambda p: int(len(p.in_sync_replicas) < len(p.replicas)),
    ),
)
GROUP_TOPIC_GAUGES = (
    (
        "kafka_consumergroup_current_offset_sum",
        "Current Offset of a ConsumerGroup at Topic for all partitions",
        lambda t: t.committed_offset_sum,
    ),
    (
        "kafka_consumergroup_lag_sum",
        "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
        lambda t: t.lag,
    ),
    (
        "kafkaflow_consumergroup_messages_per_second",
        "Records this ConsumerGroup commits per second on this Topic (over the rate window)",
        lambda t: t.messages_per_second,
    ),
)
GROUP_PARTITION_GAUGES = (
    (
        "kafka_consumergroup_current_offset",
        "Current Offset of a ConsumerGroup at Topic/Partition",
        lambda p: p.committed_offset,
    ),
    (
        "kafka_consumergroup_lag",
        "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
        lambda p: p.lag,
    ),
)


def _topic_metrics(snapshot: Snapshot) -> Iterator[GaugeMetricFamily]:
    per_topic = _gauges(["topic"], TOPIC_GAUGES)
    per_partition = _gauges(["topic", "partition"], TOPIC_PARTITION_GAUGES)
    for name, topic in sorted(snapshot.topics.items()):
        for gauge, value in per_topic:
            gauge.add_metric([name], value(topic))
        for p in topic.partitions:
            for gauge, value in per_partition:
                gauge.add_metric([name, str(p.partition)], value(p))
    yield from (gauge for gauge, _ in per_topic + per_partition)


def _group_metrics(snapshot: Snapshot) -> Iterator[GaugeMetricFamily]:
    members = GaugeMetricFamily(
        "kafka_consumergroup_members", "Amount of members in a consumer group", labels=["consumergroup"]
    )
    per_topic = _gauges(["consumergroup", "topic"], GROUP_TOPIC_GAUGES)
    per_partition = _gauges(["consumergroup", "topic", "partition"], GROUP_PARTITION_GAUGES)
    for name, group in sorted(snapshot.groups.items()):
        members.add_metric([name], group.members)
        for topic in group.topics:
            for gauge, value in per_topic:
                gauge.add_metric([name, topic.topic], value(topic))
            for p in topic.partitions:
                for gauge, value in per_partition:
                    gauge.add_metric([name, topic.topic, str(p.partition)], value(p))
    yield members
    yield from (gauge for gauge, _ in per_topic + per_partition)
