"""The state of the cluster at one poll, and the pure arithmetic that turns offsets into lag.

Lag semantics (per group, topic, partition):
- committed offset `c`, end offset `e`, oldest offset `o` → lag = max(e - max(c, o), 0): a record
  deleted by retention can no longer be consumed, so it is not lag.
- a partition of a topic the group consumes but has no committed offset for (for example a
  partition that never received a record while the group ran) → lag = e - o, because every Alice
  consumer starts from the earliest offset. Its `committed_offset` is reported as -1, as the
  Kafka exporter does.
A group "consumes" a topic when it has a committed offset on any of its partitions or a member
is assigned one of its partitions.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartitionOffsets:
    partition: int
    oldest_offset: int
    end_offset: int
    leader: int = -1
    replicas: tuple[int, ...] = ()
    in_sync_replicas: tuple[int, ...] = ()


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: tuple[PartitionOffsets, ...]
    messages_per_second: float = 0.0

    @property
    def end_offset_sum(self) -> int:
        return sum(p.end_offset for p in self.partitions)

    @property
    def record_count(self) -> int:
        """Records still stored (end - oldest over partitions)."""
        return sum(max(p.end_offset - p.oldest_offset, 0) for p in self.partitions)


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end_offset: int
    committed_offset: int  # -1: the group has no committed offset here
    lag: int


@dataclass(frozen=True)
class GroupTopicLag:
    topic: str
    partitions: tuple[PartitionLag, ...]
    messages_per_second: float = 0.0

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def committed_offset_sum(self) -> int:
        return sum(max(p.committed_offset, 0) for p in self.partitions)


@dataclass(frozen=True)
class GroupState:
    name: str
    state: str
    members: int
    topics: tuple[GroupTopicLag, ...]

    @property
    def lag(self) -> int:
        return sum(t.lag for t in self.topics)


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # unix seconds
    brokers: int
    broker_addresses: dict[int, str] = field(default_factory=dict)  # node id -> host:port
    topics: dict[str, TopicState] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    poll_duration_s: float = 0.0


def partition_lag(offsets: PartitionOffsets, committed: int | None) -> PartitionLag:
    if committed is None or committed < 0:
        return PartitionLag(
            offsets.partition, offsets.end_offset, -1, offsets.end_offset - offsets.oldest_offset
        )
    start = max(committed, offsets.oldest_offset)
    return PartitionLag(offsets.partition, offsets.end_offset, committed, max(offsets.end_offset - start, 0))


def group_topic_lags(
    topics: dict[str, TopicState],
    committed: dict[tuple[str, int], int],
    assigned: set[tuple[str, int]],
) -> dict[str, tuple[PartitionLag, ...]]:
    """Lag per partition of every known topic this group commits to or is assigned."""
    consumed = {t for t, _ in committed} | {t for t, _ in assigned}
    result: dict[str, tuple[PartitionLag, ...]] = {}
    for name in sorted(consumed):
        topic = topics.get(name)
        if topic is None:  # offsets left behind for a deleted or out-of-scope topic
            continue
        result[name] = tuple(partition_lag(p, committed.get((name, p.partition))) for p in topic.partitions)
    return result
