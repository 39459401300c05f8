"""The shared consume loop against a real Kafka: key order, concurrency, safe commits, DLQ, drain.

Figures (overlap, durations) are printed; run with `-s` to see them.
"""

import asyncio
import random
import time
from collections import defaultdict
from typing import Literal

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from alice_common.clients import kafka_producer
from alice_common.events import Event
from alice_common.kafka import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_GROUP,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    ConsumeLoop,
    ConsumeOptions,
    ensure_topics,
    publish,
)
from alice_common.settings import AliceSettings
from devstack.testing import unique_name
from prometheus_client import REGISTRY
from pydantic import ValidationError

pytestmark = pytest.mark.integration

TOPIC = "ticks"
BUFFER_LIMIT = 60


class Tick(Event):
    type: Literal["Tick"] = "Tick"
    key: str
    seq: int
    poison: bool = False


@pytest.fixture
def settings(infra) -> AliceSettings:
    return AliceSettings(
        service_name="consume-loop-test",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('loop')}.",
    )


@pytest.fixture
async def producer(settings):
    producer = kafka_producer(settings)
    await producer.start()
    yield producer
    await producer.stop()


async def produce_ticks(producer, settings, events: int, keys: int, seed: int = 7):
    """`events` ticks over `keys` keys in a random interleaving; returns how many each key got and
    the acknowledgements."""
    rng = random.Random(seed)
    counts: dict[str, int] = defaultdict(int)
    sends = []
    for _ in range(events):
        key = f"key-{rng.randrange(keys):02d}"
        tick = Tick(key=key, seq=counts[key])
        counts[key] += 1
        sends.append(await producer.send(settings.topic(TOPIC), tick.to_bytes(), key=key.encode()))
    return dict(counts), await asyncio.gather(*sends)


async def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


async def committed_offsets(settings, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group(group))
        topic = settings.topic(TOPIC)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    finally:
        await admin.close()


def end_offsets(produced) -> dict[int, int]:
    """One past the last produced offset of each partition (from the producer's acknowledgements)."""
    ends: dict[int, int] = {}
    for meta in produced:
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return ends


def metric(name: str, settings, group: str) -> float:
    labels = {"topic": settings.topic(TOPIC), "group": settings.group(group)}
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_thousand_events_keep_key_order_run_concurrently_and_commit_safely(settings, producer):
    await ensure_topics(settings, [TOPIC], partitions=3)
    counts, produced = await produce_ticks(producer, settings, events=1000, keys=20)
    rng = random.Random(11)

    handled: dict[str, list[int]] = defaultdict(list)
    done_offsets: dict[int, set[int]] = defaultdict(set)
    active_keys: set[str] = set()
    active_by_partition: dict[int, int] = defaultdict(int)
    peak = {"all": 0, "one_partition": 0, "buffered": 0}
    commit_checks = {"commits": 0, "violations": []}

    async def handle(record):
        tick = Tick.model_validate_json(record.value)
        assert tick.key not in active_keys, f"two handlers of key {tick.key} at once"
        active_keys.add(tick.key)
        active_by_partition[record.partition] += 1
        peak["all"] = max(peak["all"], len(active_keys))
        peak["one_partition"] = max(peak["one_partition"], active_by_partition[record.partition])
        peak["buffered"] = max(peak["buffered"], *loop.buffered.values())
        try:
            await asyncio.sleep(rng.uniform(0, 0.008))
            handled[tick.key].append(tick.seq)
            done_offsets[record.partition].add(record.offset)
        finally:
            active_keys.discard(tick.key)
            active_by_partition[record.partition] -= 1

    def check_commit(positions: dict[TopicPartition, int]) -> None:
        # Everything below a committed position must be finished by the handler already.
        commit_checks["commits"] += 1
        for tp, position in positions.items():
            missing = set(range(position)) - done_offsets[tp.partition]
            if missing:
                commit_checks["violations"].append((tp.partition, position, sorted(missing)[:5]))

    loop = ConsumeLoop(
        settings, TOPIC, "orderly", handle, producer,
        options=ConsumeOptions(
            max_concurrency=8, max_buffered_per_partition=BUFFER_LIMIT, commit_interval_s=0.05
        ),
        on_commit=check_commit,
    )  # fmt: skip
    started = time.monotonic()
    await loop.start()
    try:
        await wait_until(lambda: sum(map(len, handled.values())) >= 1000, 45, "1,000 handled events")
        elapsed = time.monotonic() - started
        assert loop.assigned
    finally:
        await loop.stop()
    assert not loop.assigned

    assert {key: seqs for key, seqs in handled.items()} == {key: list(range(n)) for key, n in counts.items()}
    assert peak["all"] > 1, "different keys never ran concurrently"
    assert peak["one_partition"] > 1, "keys sharing a partition never ran concurrently"
    assert peak["all"] <= 8
    # Backpressure: partitions filled up to the limit and were paused there (without pausing each
    # would hold its ~333 records); one fetch of at most `limit` records may overshoot it.
    assert BUFFER_LIMIT <= peak["buffered"] < 2 * BUFFER_LIMIT
    assert commit_checks["commits"] > 1
    assert commit_checks["violations"] == []
    # After stop() everything finished is committed: the group's offsets reach the end of the log.
    assert await committed_offsets(settings, "orderly") == end_offsets(produced)
    assert metric("alice_kafka_records_processed_total", settings, "orderly") == 1000
    assert metric("alice_kafka_records_in_flight", settings, "orderly") == 0
    print(
        f"\n1,000 events / 20 keys / 3 partitions in {elapsed:.2f}s: max simultaneous handlers "
        f"{peak['all']} (limit 8), max in one partition {peak['one_partition']}, "
        f"max buffered in a partition {peak['buffered']} (pause at {BUFFER_LIMIT}), "
        f"{commit_checks['commits']} commits checked"
    )


async def test_failing_records_go_to_the_dlq_and_the_loop_keeps_going(settings, producer):
    await ensure_topics(settings, [TOPIC], partitions=2)
    topic = settings.topic(TOPIC)
    produced = [await publish(producer, settings, TOPIC, Tick(key="a", seq=0), key="a")]
    poison = await publish(producer, settings, TOPIC, Tick(key="a", seq=1, poison=True), key="a")
    produced += [poison, await publish(producer, settings, TOPIC, Tick(key="a", seq=2), key="a")]
    garbage = await producer.send_and_wait(topic, b"{not json", key=b"b")
    produced += [garbage, await publish(producer, settings, TOPIC, Tick(key="b", seq=1), key="b")]

    handled: list[tuple[str, int]] = []
    attempts: dict[int, int] = defaultdict(int)
    dead: list[tuple[int, str]] = []

    async def handle(record):
        attempts[record.offset] += 1
        tick = Tick.model_validate_json(record.value)  # raises ValidationError for the garbage
        if tick.poison:
            raise RuntimeError(f"cannot handle seq {tick.seq}")
        handled.append((tick.key, tick.seq))

    async def on_dead_letter(record, exc):
        dead.append((record.offset, type(exc).__name__))

    loop = ConsumeLoop(
        settings, TOPIC, "dlq-check", handle, producer,
        options=ConsumeOptions(max_attempts=3, retry_backoff_s=0.01), on_dead_letter=on_dead_letter,
    )  # fmt: skip
    await loop.start()
    try:
        await wait_until(lambda: len(handled) == 3 and len(dead) == 2, 30, "3 handled, 2 dead-lettered")
    finally:
        await loop.stop()

    # Later records of the failing keys were still handled, after the failures (key order kept).
    assert handled.count(("a", 0)) == 1 and ("a", 2) in handled and ("b", 1) in handled
    assert handled.index(("a", 0)) < handled.index(("a", 2))
    assert attempts[poison.offset] == 3
    assert sorted(dead) == sorted([(poison.offset, "RuntimeError"), (garbage.offset, "ValidationError")])

    dlq = AIOKafkaConsumer(
        settings.topic(f"{TOPIC}.dlq"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dlq.start()
    try:
        records = []
        while len(records) < 2:
            batch = await asyncio.wait_for(dlq.getone(), 10)
            records.append(batch)
    finally:
        await dlq.stop()
    by_key = {r.key: r for r in records}
    assert set(by_key) == {b"a", b"b"}
    poisoned = by_key[b"a"]
    headers = dict(poisoned.headers)
    assert Tick.model_validate_json(poisoned.value).poison
    assert headers[HEADER_ERROR] == b"RuntimeError: cannot handle seq 1"
    assert headers[HEADER_ERROR_TYPE] == b"RuntimeError"
    assert headers[HEADER_SOURCE_TOPIC] == topic.encode()
    assert headers[HEADER_SOURCE_PARTITION] == str(poison.partition).encode()
    assert headers[HEADER_SOURCE_OFFSET] == str(poison.offset).encode()
    assert headers[HEADER_ATTEMPTS] == b"3"
    assert headers[HEADER_GROUP] == settings.group("dlq-check").encode()
    assert headers["alice.event.type"] == b"Tick"  # the producer's own headers travel along
    unparseable = by_key[b"b"]
    assert unparseable.value == b"{not json"
    assert dict(unparseable.headers)[HEADER_ERROR_TYPE] == ValidationError.__name__.encode()
    assert metric("alice_kafka_records_dead_lettered_total", settings, "dlq-check") == 2
    assert metric("alice_kafka_record_failures_total", settings, "dlq-check") == 6
    # Dead-lettered records count as finished: the group committed past them.
    assert await committed_offsets(settings, "dlq-check") == end_offsets(produced)


async def test_stop_abandons_stuck_work_uncommitted_and_it_is_redelivered(settings, producer):
    await ensure_topics(settings, [TOPIC], partitions=1)
    first = await publish(producer, settings, TOPIC, Tick(key="a", seq=0), key="a")
    stuck = await publish(producer, settings, TOPIC, Tick(key="stuck", seq=0), key="stuck")
    await publish(producer, settings, TOPIC, Tick(key="c", seq=0), key="c")
    handled: list[str] = []
    never = asyncio.Event()

    async def handle(record):
        tick = Tick.model_validate_json(record.value)
        if tick.key == "stuck":
            await never.wait()
        handled.append(tick.key)

    loop = ConsumeLoop(
        settings, TOPIC, "drain", handle, producer, options=ConsumeOptions(drain_timeout_s=0.5)
    )
    await loop.start()
    await wait_until(lambda: sorted(handled) == ["a", "c"], 30, "the two quick records")
    began = time.monotonic()
    await loop.stop()
    assert 0.5 <= time.monotonic() - began < 5
    # The committed offset stops at the stuck record (the commit metadata notes that the record
    # after it is finished, so only the stuck one is delivered again).
    assert first.offset < stuck.offset
    assert await committed_offsets(settings, "drain") == {0: stuck.offset}

    never.set()
    handled.clear()
    again = ConsumeLoop(settings, TOPIC, "drain", handle, producer)
    await again.start()
    try:
        await wait_until(lambda: handled == ["stuck"], 30, "redelivery of the abandoned record")
        await asyncio.sleep(0.3)
        assert handled == ["stuck"]
    finally:
        await again.stop()
