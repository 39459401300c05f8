"""An in-memory broker for unit tests of `ConsumeLoop` itself (retries, giving records back on a
stop or a revoke) without Kafka: each partition's records and the group's committed offsets, a
consumer and admin client over them, and a producer that keeps what it sends.

`attach(loop, broker, partitions)` starts a loop on it as `ConsumeLoop.start` would (minus the
group protocol); `move_away(loop, partitions)` runs the two rebalances that hand partitions to
another member (kafka/handover.py). Real Kafka: tests/integration/test_consume_loop*.py.
"""

import asyncio
from types import SimpleNamespace

from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, TopicPartition
from alice_common.kafka.consume_loop import ConsumeLoop
from alice_common.kafka.isolation import IsolationGate


class FakeBroker:
    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self.log: dict[TopicPartition, list[ConsumerRecord]] = {
            TopicPartition(topic, p): [] for p in range(partitions)
        }
        self.committed: dict[TopicPartition, OffsetAndMetadata] = {}

    def partition(self, number: int) -> TopicPartition:
        return TopicPartition(self.topic, number)

    def append(self, partition: int, key: bytes, value: bytes) -> ConsumerRecord:
        records = self.log[self.partition(partition)]
        record = ConsumerRecord(
            topic=self.topic, partition=partition, offset=len(records), timestamp=0, timestamp_type=0,
            key=key, value=value, checksum=None, serialized_key_size=len(key),
            serialized_value_size=len(value), headers=(),
        )  # fmt: skip
        records.append(record)
        return record

    def committed_offset(self, partition: int) -> int:
        meta = self.committed.get(self.partition(partition))
        return meta.offset if meta is not None else 0


class FakeConsumer:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self._assigned: set[TopicPartition] = set()
        self._paused: set[TopicPartition] = set()
        self._position: dict[TopicPartition, int] = {}
        self._coordinator = SimpleNamespace(request_rejoin=lambda: None)

    def assign(self, partitions: set[TopicPartition]) -> None:
        """A new assignment: fetching resumes from the committed offsets, nothing stays paused."""
        self._assigned, self._paused = set(partitions), set()
        for p in partitions:
            meta = self.broker.committed.get(p)
            self._position.setdefault(p, meta.offset if meta is not None else 0)

    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused |= set(partitions) & self._assigned

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused -= set(partitions)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._position[partition] = offset

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        batches = {}
        for p in sorted(self._assigned - self._paused):
            start = self._position[p]
            records = self.broker.log[p][start : start + max_records]
            if records:
                batches[p] = records
                self._position[p] = start + len(records)
        await asyncio.sleep(0 if batches else timeout_ms / 1000)
        return batches

    async def commit(self, offsets: dict[TopicPartition, tuple[int, str]]) -> None:
        for p, (offset, metadata) in offsets.items():
            self.broker.committed[p] = OffsetAndMetadata(offset, metadata)

    async def stop(self) -> None:
        self._assigned = set()


class FakeAdmin:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker

    async def list_consumer_group_offsets(self, group: str, partitions: list[TopicPartition]) -> dict:
        return {p: self.broker.committed[p] for p in partitions if p in self.broker.committed}

    async def close(self) -> None:
        return None


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []

    async def send_and_wait(self, topic, value=None, key=None, headers=None):
        self.sent.append((topic, value, dict(headers or ())))

    async def flush(self) -> None:
        return None


async def attach(loop: ConsumeLoop, broker: FakeBroker, partitions: list[int]) -> FakeConsumer:
    """Start `loop` as the owner of `partitions` of `broker`."""
    consumer = FakeConsumer(broker)
    loop._consumer, loop._admin, loop._gate = consumer, FakeAdmin(broker), IsolationGate()  # type: ignore[assignment]
    assigned = {broker.partition(p) for p in partitions}
    consumer.assign(assigned)
    await loop._on_assigned(assigned)
    loop._fetching = asyncio.create_task(loop._fetch_loop())
    return consumer


async def move_away(loop: ConsumeLoop, consumer: FakeConsumer, partitions: list[int]) -> None:
    """The group gives `partitions` to another member: first flagged `release` (the loop drains
    and commits them), then, in the rebalance the loop asks for, left out of its assignment."""
    everything = consumer.assignment()
    moving = {consumer.broker.partition(p) for p in partitions}
    loop._assignor.release = frozenset(moving)
    await loop._on_revoked(everything)
    await loop._on_assigned(everything)
    await asyncio.gather(*loop._release_tasks)
    loop._assignor.release = frozenset()
    await loop._on_revoked(everything)
    consumer.assign(everything - moving)
    await loop._on_assigned(everything - moving)
