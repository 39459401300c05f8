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


def _topic_metrics(snapshot: Snapshot) -> Iterator[GaugeMetricFamily]:
    partitions = GaugeMetricFamily(
        "kafka_topic_partitions", "Number of partitions for this Topic", labels=["topic"]
    )
    current = GaugeMetricFamily(
        "kafka_topic_partition_current_offset",
        "Current Offset of a Broker at Topic/Partition",
        labels=["topic", "partition"],
    )
    oldest = GaugeMetricFamily(
        "kafka_topic_partition_oldest_offset",
        "Oldest Offset of a Broker at Topic/Partition",
        labels=["topic", "partition"],
    )
    leader = GaugeMetricFamily(
        "kafka_topic_partition_leader",
        "Leader Broker ID of this Topic/Partition",
        labels=["topic", "partition"],
    )
    preferred = GaugeMetricFamily(
        "kafka_topic_partition_leader_is_preferred",
        "1 if Topic/Partition is using the Preferred Broker",
        labels=["topic", "partition"],
    )
    replicas = GaugeMetricFamily(
        "kafka_topic_partition_replicas",
        "Number of Replicas for this Topic/Partition",
        labels=["topic", "partition"],
    )
    in_sync = GaugeMetricFamily(
        "kafka_topic_partition_in_sync_replica",
        "Number of In-Sync Replicas for this Topic/Partition",
        labels=["topic", "partition"],
    )
    under_replicated = GaugeMetricFamily(
        "kafka_topic_partition_under_replicated_partition",
        "1 if Topic/Partition is under Replicated",
        labels=["topic", "partition"],
    )
    rate = GaugeMetricFamily(
        "kafkaflow_topic_messages_per_second",
        "Records produced to this Topic per second (end-offset slope over the rate window)",
        labels=["topic"],
    )
    for name, topic in sorted(snapshot.topics.items()):
        partitions.add_metric([name], len(topic.partitions))
        rate.add_metric([name], topic.messages_per_second)
        for p in topic.partitions:
            labels = [name, str(p.partition)]
            current.add_metric(labels, p.end_offset)
            oldest.add_metric(labels, p.oldest_offset)
            leader.add_metric(labels, p.leader)
            preferred.add_metric(labels, int(bool(p.replicas) and p.replicas[0] == p.leader))
            replicas.add_metric(labels, len(p.replicas))
            in_sync.add_metric(labels, len(p.in_sync_replicas))
            under_replicated.add_metric(labels, int(len(p.in_sync_replicas) < len(p.replicas)))
    yield from (partitions, current, oldest, leader, preferred, replicas, in_sync, under_replicated, rate)


def _group_metrics(snapshot: Snapshot) -> Iterator[GaugeMetricFamily]:
    members = GaugeMetricFamily(
        "kafka_consumergroup_members", "Amount of members in a consumer group", labels=["consumergroup"]
    )
    current = GaugeMetricFamily(
        "kafka_consumergroup_current_offset",
        "Current Offset of a ConsumerGroup at Topic/Partition",
        labels=["consumergroup", "topic", "partition"],
    )
    current_sum = GaugeMetricFamily(
        "kafka_consumergroup_current_offset_sum",
        "Current Offset of a ConsumerGroup at Topic for all partitions",
        labels=["consumergroup", "topic"],
    )
    lag = GaugeMetricFamily(
        "kafka_consumergroup_lag",
        "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
        labels=["consumergroup", "topic", "partition"],
    )
    lag_sum = GaugeMetricFamily(
        "kafka_consumergroup_lag_sum",
        "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
        labels=["consumergroup", "topic"],
    )
    rate = GaugeMetricFamily(
        "kafkaflow_consumergroup_messages_per_second",
        "Records this ConsumerGroup commits per second on this Topic (over the rate window)",
        labels=["consumergroup", "topic"],
    )
    for name, group in sorted(snapshot.groups.items()):
        members.add_metric([name], group.members)
        for topic in group.topics:
            current_sum.add_metric([name, topic.topic], topic.committed_offset_sum)
            lag_sum.add_metric([name, topic.topic], topic.lag)
            rate.add_metric([name, topic.topic], topic.messages_per_second)
            for p in topic.partitions:
                labels = [name, topic.topic, str(p.partition)]
                current.add_metric(labels, p.committed_offset)
                lag.add_metric(labels, p.lag)
    yield from (members, current, current_sum, lag, lag_sum, rate)
