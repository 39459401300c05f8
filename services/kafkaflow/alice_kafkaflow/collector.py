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
    rate = GaugeMetricFamily(
        "kafkaflow_topic_messages_per_second",
        "Records produced to this Topic per second (end-offset slope over the rate window)",
        labels=["topic"],
    )
    for name, topic in sorted(snapshot.topics.items()):
        partitions.add_metric([name], len(topic.partitions))
        rate.add_metric([name], topic.messages_per_second)
        for p in topic.partitions:
            current.add_metric([name, str(p.partition)], p.end_offset)
            oldest.add_metric([name, str(p.partition)], p.oldest_offset)
    yield from (partitions, current, oldest, rate)


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
