"""Background poller: snapshots every topic and consumer group through the Kafka admin API.

One admin client (metadata, groups, committed offsets) and one group-less consumer (ListOffsets
for the oldest and end offsets). With `KAFKA_TOPIC_PREFIX` set, only prefixed topics and groups
are watched, so one Kafka can host several isolated Alice deployments or test sessions.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from alice_kafkaflow.rates import RateTracker
from alice_kafkaflow.settings import Settings
from alice_kafkaflow.snapshot import (
    GroupState,
    GroupTopicLag,
    PartitionOffsets,
    Snapshot,
    TopicState,
    group_topic_lags,
)

log = logging.getLogger(__name__)

OFFSETS_CONCURRENCY = 16
OFFSETS_TIMEOUT_S = 10.0


class KafkaPoller:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._rates = RateTracker(settings.rate_window_s)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.admin: AIOKafkaAdminClient | None = None
        self.offsets_reader: AIOKafkaConsumer | None = None
        self.latest: Snapshot | None = None
        self.last_error: str | None = None

    def in_scope(self, name: str) -> bool:
        return name.startswith(self.settings.kafka_topic_prefix)

    async def start(self) -> None:
        servers = self.settings.kafka_bootstrap_servers
        name = self.settings.service_name
        self.admin = AIOKafkaAdminClient(bootstrap_servers=servers, client_id=f"{name}-admin")
        await self.admin.start()
        self.offsets_reader = AIOKafkaConsumer(
            bootstrap_servers=servers, enable_auto_commit=False, client_id=f"{name}-offsets"
        )
        await self.offsets_reader.start()
        self._task = asyncio.create_task(self._run(), name="kafkaflow-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.offsets_reader is not None:
            await self.offsets_reader.stop()
        if self.admin is not None:
            await self.admin.close()

    async def refresh(self) -> Snapshot:
        """Take a snapshot now (the on-demand path); concurrent callers take turns."""
        async with self._lock:
            try:
                snapshot = await self._take()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.latest = snapshot
            self.last_error = None
            return snapshot

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep polling through broker restarts and coordinator moves
                log.warning("kafka poll failed", exc_info=True)
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _take(self) -> Snapshot:
        assert self.admin is not None and self.offsets_reader is not None, "poller not started"
        started = time.perf_counter()
        cluster = await self.admin.describe_cluster()
        described = await self._describe_topics()
        offsets = await self._partition_offsets(described)
        now = self._clock()

        topics: dict[str, TopicState] = {}
        for name, parts in described.items():
            if any((name, p["partition"]) not in offsets for p in parts):
                continue  # no offsets yet (see _partition_offsets)
            state = tuple(
                PartitionOffsets(p["partition"], *offsets[(name, p["partition"])], p["leader"],
                                 tuple(p["replicas"]), tuple(p["isr"]))
                for p in parts
            )  # fmt: skip
            total = sum(p.end_offset for p in state)
            topics[name] = TopicState(name, state, self._rates.observe(("topic", name), now, total))

        groups = await self._groups(topics, now)
        self._rates.forget_except(
            {("topic", t) for t in topics}
            | {("group", g.name, t.topic) for g in groups.values() for t in g.topics}
        )
        brokers = cluster.get("brokers", [])
        return Snapshot(
            taken_at=now,
            brokers=len(brokers),
            broker_addresses={b["node_id"]: f"{b['host']}:{b['port']}" for b in brokers},
            topics=topics,
            groups=groups,
            poll_duration_s=time.perf_counter() - started,
        )

    async def _describe_topics(self) -> dict[str, list[dict]]:
        """Partition metadata of every watched topic, partitions in order."""
        described = await self.admin.describe_topics()
        result = {}
        for t in described:
            name = t["topic"]
            if t["error_code"] or t["is_internal"] or name.startswith("__") or not self.in_scope(name):
                continue
            result[name] = sorted(t["partitions"], key=lambda p: p["partition"])
        return dict(sorted(result.items()))

    async def _partition_offsets(self, described: dict[str, list[dict]]) -> dict[tuple[str, int], tuple]:
        """(oldest, end) offset of every partition, asked topic by topic.

        One ListOffsets call retries until its timeout while any partition in it has no leader
        (a topic being created or deleted), so one such topic must not stall the others: it keeps
        its offsets from the previous snapshot, or waits for the next poll if it has none.
        """
        limit = asyncio.Semaphore(OFFSETS_CONCURRENCY)

        async def of_topic(topic: str, partitions: list[int]) -> dict[tuple[str, int], tuple]:
            tps = [TopicPartition(topic, p) for p in partitions]
            reader = self.offsets_reader
            async with limit:
                oldest, end = await asyncio.wait_for(
                    asyncio.gather(reader.beginning_offsets(tps), reader.end_offsets(tps)),
                    OFFSETS_TIMEOUT_S,
                )
            return {(topic, tp.partition): (oldest[tp], end[tp]) for tp in tps}

        names = list(described)
        answers = await asyncio.gather(
            *(of_topic(t, [p["partition"] for p in described[t]]) for t in names), return_exceptions=True
        )
        result: dict[tuple[str, int], tuple] = {}
        previous = self.latest.topics if self.latest else {}
        for topic, answer in zip(names, answers, strict=True):
            if not isinstance(answer, BaseException):
                result.update(answer)
                continue
            log.info("offsets of %s unavailable this poll: %r", topic, answer)
            if topic in previous:
                result.update(
                    {
                        (topic, p.partition): (p.oldest_offset, p.end_offset)
                        for p in previous[topic].partitions
                    }
                )
        return result

    async def _groups(self, topics: dict[str, TopicState], now: float) -> dict[str, GroupState]:
        listed = await self.admin.list_consumer_groups()
        names = sorted({g[0] for g in listed if self.in_scope(g[0]) and g[1] in ("consumer", "")})
        if not names:
            return {}
        descriptions = await self._describe_groups(names)
        committed_all = await asyncio.gather(
            *(self.admin.list_consumer_group_offsets(n) for n in names), return_exceptions=True
        )
        groups: dict[str, GroupState] = {}
        for name, committed_raw in zip(names, committed_all, strict=True):
            if isinstance(committed_raw, BaseException):
                log.warning("offsets of group %s unavailable: %s", name, committed_raw)
                continue
            committed = {(tp.topic, tp.partition): meta.offset for tp, meta in committed_raw.items()}
            state, members, assigned = descriptions.get(name, ("Unknown", 0, set()))
            topic_lags = []
            for topic, partitions in group_topic_lags(topics, committed, assigned).items():
                consumed = sum(max(p.committed_offset, 0) for p in partitions)
                rate = self._rates.observe(("group", name, topic), now, consumed)
                topic_lags.append(GroupTopicLag(topic, partitions, rate))
            groups[name] = GroupState(name, state, members, tuple(topic_lags))
        return groups

    async def _describe_groups(self, names: list[str]) -> dict[str, tuple[str, int, set[tuple[str, int]]]]:
        # One group per request: aiokafka 0.14 fails to decode a DescribeGroups response that
        # holds several groups ("Buffer underrun") and drops the connection with it.
        answers = await asyncio.gather(
            *(self.admin.describe_consumer_groups([n]) for n in names), return_exceptions=True
        )
        result = {}
        for name, responses in zip(names, answers, strict=True):
            if isinstance(responses, BaseException):  # lag still counts without the state
                log.warning("describe consumer group %s failed: %s", name, responses)
                continue
            result.update(_describe_answer(responses))
        return result


def _describe_answer(responses: list) -> dict[str, tuple[str, int, set[tuple[str, int]]]]:
    result = {}
    for response in responses:
        for group in response.to_object()["groups"]:
            if group["error_code"]:
                continue
            assigned: set[tuple[str, int]] = set()
            for member in group["members"]:
                assigned |= _assigned_partitions(member["member_assignment"])
            result[group["group"]] = (group["state"], len(group["members"]), assigned)
    return result


def _assigned_partitions(raw: bytes) -> set[tuple[str, int]]:
    if not raw:
        return set()
    try:
        assignment = ConsumerProtocolMemberAssignment.decode(raw)
    except Exception:  # a non-consumer protocol or a newer layout: membership still counts
        return set()
    return {(tp.topic, tp.partition) for tp in assignment.partitions()}
