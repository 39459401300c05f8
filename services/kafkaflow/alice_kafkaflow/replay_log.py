"""What has been replayed from each DLQ, kept in Kafka so restarts and replicas agree.

Two marks, both durable:
- a per-partition low-water mark, stored as the committed offset of the consumer group
  `<prefix>kafkaflow.dlq-replay` on the DLQ partition: every record below it was replayed by a
  "replay all" (so a second "all" starts there and never replays a record twice);
- single replays, one record each in the compacted topic `<prefix>kafkaflow.replays`, keyed by
  `<dlq topic>/<partition>/<offset>`; read in full at start-up and tailed before each decision.
"""

import json
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from alice_kafkaflow.settings import Settings

TOPIC_ALREADY_EXISTS = 36


def bookkeeping_names(settings: Settings) -> tuple[str, str]:
    """The compacted topic and the consumer group that remember replays."""
    return settings.topic("kafkaflow.replays"), settings.topic("kafkaflow.dlq-replay")


class ReplayLog:
    def __init__(self, settings: Settings, admin: AIOKafkaAdminClient, producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.topic, self.group = bookkeeping_names(settings)
        self._admin = admin
        self._producer = producer
        self._single: set[tuple[str, int, int]] = set()
        self._reader: AIOKafkaConsumer | None = None
        self._marker: AIOKafkaConsumer | None = None
        self._tp = TopicPartition(self.topic, 0)

    async def start(self) -> None:
        await self._ensure_topic()
        servers = self.settings.kafka_bootstrap_servers
        self._reader = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        await self._reader.start()
        self._reader.assign([self._tp])
        await self._reader.seek_to_beginning(self._tp)
        # Manual assignment with a group id: commits the marks without joining the group.
        self._marker = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=self.group, enable_auto_commit=False
        )
        await self._marker.start()
        await self.sync()

    async def stop(self) -> None:
        for consumer in (self._reader, self._marker):
            if consumer is not None:
                await consumer.stop()

    async def _ensure_topic(self) -> None:
        configs = {"cleanup.policy": "compact"}
        new = NewTopic(self.topic, 1, self.settings.kafka_replication_factor, topic_configs=configs)
        response = await self._admin.create_topics([new])
        for _, code, *_ in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"cannot create {self.topic}: error code {code}")

    async def sync(self) -> None:
        """Read single-replay entries written since the last sync (by us or another replica)."""
        reader = self._reader
        end = (await reader.end_offsets([self._tp]))[self._tp]
        while await reader.position(self._tp) < end:
            batches = await reader.getmany(self._tp, timeout_ms=1000)
            for record in batches.get(self._tp, []):
                dlq, partition, offset = record.key.decode().rsplit("/", 2)
                self._single.add((dlq, int(partition), int(offset)))

    async def marks(self, dlq: str, partitions: list[int]) -> dict[int, int]:
        """Low-water mark per partition (0 where "all" never ran)."""
        tps = [TopicPartition(dlq, p) for p in partitions]
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=tps)
        return {tp.partition: max(committed[tp].offset, 0) if tp in committed else 0 for tp in tps}

    async def set_marks(self, dlq: str, marks: dict[int, int]) -> None:
        offsets = {TopicPartition(dlq, p): OffsetAndMetadata(o, "") for p, o in marks.items()}
        tps = list(offsets)
        self._marker.assign(tps)
        await self._marker.commit(offsets)

    def replayed_single(self, dlq: str, partition: int, offset: int) -> bool:
        return (dlq, partition, offset) in self._single

    def singles_in(self, dlq: str, partition: int, start: int, end: int) -> int:
        return sum(1 for d, p, o in self._single if d == dlq and p == partition and start <= o < end)

    async def remember_single(self, dlq: str, partition: int, offset: int, target: dict) -> None:
        key = f"{dlq}/{partition}/{offset}".encode()
        value = json.dumps({"replayed_at": time.time(), **target}).encode()
        await self._producer.send_and_wait(self.topic, value=value, key=key, partition=0)
        self._single.add((dlq, partition, offset))
