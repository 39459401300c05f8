"""Dead-letter topics: list them, read their records, replay records onto the source topic.

A replayed record keeps its key and value (so it lands on the same partition of the source topic
and keeps per-key order), keeps the headers the original producer set, drops the headers the
dead-lettering added, and gains `replayed-from: <dlq>/<partition>/<offset>`.
"""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from alice_common.kafka.dead_letter import HEADER_PREFIX

from alice_kafkaflow.errors import ApiError
from alice_kafkaflow.flows import DLQ_SUFFIX, strip_prefix
from alice_kafkaflow.records import record_json
from alice_kafkaflow.replay_log import ReplayLog
from alice_kafkaflow.settings import Settings

REPLAYED_FROM = "replayed-from"
# Headers written by the dead-lettering (and an earlier replay): the source topic must not see them.
DROPPED_ON_REPLAY = (HEADER_PREFIX, REPLAYED_FROM)
FETCH_TIMEOUT_MS = 2000


class DlqService:
    def __init__(
        self,
        settings: Settings,
        admin: AIOKafkaAdminClient,
        offsets_reader: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        log: ReplayLog,
    ) -> None:
        """`offsets_reader`: a started group-less consumer, used for ListOffsets only."""
        self.settings = settings
        self.prefix = settings.kafka_topic_prefix
        self._admin = admin
        self._offsets_reader = offsets_reader
        self._producer = producer
        self._log = log
        self._lock = asyncio.Lock()  # one replay decision at a time in this process

    def kafka_name(self, name: str) -> str:
        return name if name.startswith(self.prefix) else f"{self.prefix}{name}"

    async def _partitions(self) -> dict[str, list[int]]:
        # The full listing, not a metadata request for one name: that could auto-create the topic.
        described = await self._admin.describe_topics()
        return {
            t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in described
            if not t["error_code"] and t["topic"].startswith(self.prefix)
        }

    async def _resolve(self, name: str) -> tuple[str, list[int], dict[str, list[int]]]:
        full = self.kafka_name(name)
        if not full.endswith(DLQ_SUFFIX):
            raise ApiError(404, "not_a_dlq", f"{name!r} is not a dead-letter topic (no {DLQ_SUFFIX} suffix)")
        topics = await self._partitions()
        if full not in topics:
            raise ApiError(404, "dlq_not_found", f"dead-letter topic {name!r} does not exist")
        return full, topics[full], topics

    async def _offsets(self, topic: str, partitions: list[int]) -> tuple[dict[int, int], dict[int, int]]:
        reader = self._offsets_reader
        tps = [TopicPartition(topic, p) for p in partitions]
        oldest, end = await asyncio.gather(reader.beginning_offsets(tps), reader.end_offsets(tps))
        return {tp.partition: oldest[tp] for tp in tps}, {tp.partition: end[tp] for tp in tps}

    async def list_dlqs(self) -> list[dict]:
        topics = await self._partitions()
        await self._log.sync()
        result = []
        for full, partitions in sorted(topics.items()):
            if not full.endswith(DLQ_SUFFIX):
                continue
            oldest, end = await self._offsets(full, partitions)
            marks = await self._log.marks(full, partitions)
            records = sum(end[p] - oldest[p] for p in partitions)
            pending = 0
            for p in partitions:
                start = max(marks[p], oldest[p])
                pending += max(end[p] - start, 0) - self._log.singles_in(full, p, start, end[p])
            source = full.removesuffix(DLQ_SUFFIX)
            result.append(
                {
                    "topic": strip_prefix(full, self.prefix),
                    "kafka_name": full,
                    "source_topic": strip_prefix(source, self.prefix),
                    "source_exists": source in topics,
                    "partitions": len(partitions),
                    "records": records,
                    "pending_replay": pending,
                }
            )
        return result

    async def _is_replayed(self, topic: str, partition: int, offset: int, marks: dict[int, int]) -> bool:
        return offset < marks.get(partition, 0) or self._log.replayed_single(topic, partition, offset)

    async def read(self, name: str, limit: int, partition: int | None = None) -> dict:
        full, partitions, _ = await self._resolve(name)
        if partition is not None:
            if partition not in partitions:
                raise ApiError(404, "partition_not_found", f"{name!r} has no partition {partition}")
            partitions = [partition]
        await self._log.sync()
        marks = await self._log.marks(full, partitions)
        oldest, end = await self._offsets(full, partitions)
        out: list[dict] = []
        for p in partitions:
            if len(out) >= limit:
                break
            records = await self._fetch_range(full, p, oldest[p], end[p], limit - len(out))
            for r in records:
                out.append(record_json(r, await self._is_replayed(full, p, r.offset, marks)))
        total = sum(end[p] - oldest[p] for p in partitions)
        return {"topic": strip_prefix(full, self.prefix), "kafka_name": full, "total": total, "records": out}

    async def _fetch_range(self, topic: str, partition: int, start: int, end: int, limit: int) -> list:
        if start >= end or limit <= 0:
            return []
        tp = TopicPartition(topic, partition)
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await reader.start()
        out: list[ConsumerRecord] = []
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            while len(out) < limit and await reader.position(tp) < end:
                batch = await reader.getmany(tp, timeout_ms=FETCH_TIMEOUT_MS, max_records=limit - len(out))
                records = batch.get(tp, [])
                if not records:
                    break
                out.extend(r for r in records if r.offset < end)
        finally:
            await reader.stop()
        return out[:limit]

    async def replay_one(self, name: str, partition: int, offset: int) -> dict:
        full, partitions, topics = await self._resolve(name)
        source = self._source_of(full, topics)
        if partition not in partitions:
            raise ApiError(404, "partition_not_found", f"{name!r} has no partition {partition}")
        async with self._lock:
            await self._log.sync()
            marks = await self._log.marks(full, [partition])
            oldest, end = await self._offsets(full, [partition])
            if not oldest[partition] <= offset < end[partition]:
                raise ApiError(
                    404,
                    "record_not_found",
                    f"{name!r} partition {partition} has no record at offset {offset}",
                )
            if await self._is_replayed(full, partition, offset, marks):
                raise ApiError(409, "already_replayed", f"record {partition}/{offset} was already replayed")
            records = await self._fetch_range(full, partition, offset, offset + 1, 1)
            if not records or records[0].offset != offset:
                # A gap in the log (compaction or a transaction marker): nothing to replay there.
                raise ApiError(404, "record_not_found", f"no record at {partition}/{offset}")
            target = await self._republish(full, source, records[0])
            await self._log.remember_single(full, partition, offset, target)
        return {"replayed": 1, "records": [{"partition": partition, "offset": offset, **target}]}

    async def replay_all(self, name: str) -> dict:
        full, partitions, topics = await self._resolve(name)
        source = self._source_of(full, topics)
        replayed: list[dict] = []
        skipped = 0
        async with self._lock:
            await self._log.sync()
            marks = await self._log.marks(full, partitions)
            oldest, end = await self._offsets(full, partitions)
            for p in partitions:
                start = max(marks[p], oldest[p])
                records = await self._fetch_range(full, p, start, end[p], end[p] - start)
                pending = [r for r in records if not self._log.replayed_single(full, p, r.offset)]
                skipped += len(records) - len(pending)
                sends = [await self._send(full, source, r) for r in pending]
                for record, meta in zip(pending, await asyncio.gather(*sends), strict=True):
                    replayed.append({"partition": p, "offset": record.offset, **self._target(source, meta)})
                # Only after every record of the partition is on the source topic.
                if end[p] > marks[p]:
                    await self._log.set_marks(full, {p: end[p]})
        return {"replayed": len(replayed), "skipped_already_replayed": skipped, "records": replayed}

    def _source_of(self, full: str, topics: dict[str, list[int]]) -> str:
        source = full.removesuffix(DLQ_SUFFIX)
        if source not in topics:
            name = strip_prefix(source, self.prefix)
            raise ApiError(409, "source_topic_missing", f"source topic {name!r} does not exist")
        return source

    async def _republish(self, dlq: str, source: str, record: ConsumerRecord) -> dict:
        return self._target(source, await (await self._send(dlq, source, record)))

    def _target(self, source: str, meta) -> dict:
        return {
            "target_topic": strip_prefix(source, self.prefix),
            "target_partition": meta.partition,
            "target_offset": meta.offset,
        }

    async def _send(self, dlq: str, source: str, record: ConsumerRecord) -> asyncio.Future:
        """Enqueue on the idempotent producer; the returned future resolves once acknowledged."""
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith(DROPPED_ON_REPLAY)]
        headers.append((REPLAYED_FROM, f"{dlq}/{record.partition}/{record.offset}".encode()))
        return await self._producer.send(source, value=record.value, key=record.key, headers=headers)
