"""A second member joins mid-run: partitions are handed over cooperatively.

Work on a partition that stays with its member goes on through the rebalance. A partition that
moves is drained and committed by its old owner before the new one gets it, so the new owner
starts exactly at the first unfinished record: no key is ever handled by both members at once,
and with short handlers nothing is handled twice.
"""

import asyncio
import random
import time
from collections import defaultdict

import pytest
from aiokafka.structs import TopicPartition
from alice_common.clients import kafka_producer
from alice_common.kafka import ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.settings import AliceSettings
from devstack.testing import unique_name

pytestmark = pytest.mark.integration

TOPIC = "shared"
EVENTS = 1000
KEYS = 20
FAST_GROUP = {"heartbeat_interval_ms": 200}  # members notice a rebalance within 0.2 s
FAST = ConsumeOptions(consumer_config=FAST_GROUP)


async def test_a_member_joining_mid_run_takes_over_without_overlap_or_loss(infra):
    settings = AliceSettings(
        service_name="consume-loop-rebalance",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('loop')}.",
    )
    await ensure_topics(settings, [TOPIC], partitions=4)
    producer = kafka_producer(settings)
    await producer.start()
    rng = random.Random(5)
    counts: dict[str, int] = defaultdict(int)
    sends = []
    for _ in range(EVENTS):
        key = f"key-{rng.randrange(KEYS):02d}"
        sends.append(await producer.send(settings.topic(TOPIC), str(counts[key]).encode(), key=key.encode()))
        counts[key] += 1
    await asyncio.gather(*sends)

    handled: dict[str, list[int]] = defaultdict(list)
    by_member: dict[str, int] = defaultdict(int)
    active_keys: set[str] = set()
    overlaps: list[str] = []

    def handler(member: str):
        async def handle(record) -> None:
            key = record.key.decode()
            if key in active_keys:
                overlaps.append(key)
            active_keys.add(key)
            try:
                await asyncio.sleep(rng.uniform(0.002, 0.01))
                handled[key].append(int(record.value))
                by_member[member] += 1
            finally:
                active_keys.discard(key)

        return handle

    def total() -> int:
        return sum(map(len, handled.values()))

    first = ConsumeLoop(settings, TOPIC, "pair", handler("first"), producer, options=FAST)
    second = ConsumeLoop(settings, TOPIC, "pair", handler("second"), producer, options=FAST)
    started = time.monotonic()
    await first.start()
    try:
        while total() < EVENTS // 5:
            assert time.monotonic() - started < 30, "the first member made no progress"
            await asyncio.sleep(0.01)
        await second.start()
        while total() < EVENTS:
            assert time.monotonic() - started < 45, f"only {total()} of {EVENTS} handled"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # anything handled twice would show up now
        split = dict(by_member)
        assigned = (first.partitions, second.partitions)
    finally:
        await second.stop()
        await first.stop()
        await producer.stop()

    assert overlaps == []
    assert split.get("second", 0) > 0, "the second member never got work"
    assert assigned[0] and assigned[1] and not (assigned[0] & assigned[1])
    # The hand-over committed exactly the finished work: each key in order, once.
    wrong = {k: v for k, v in handled.items() if v != list(range(counts[k]))}
    assert wrong == {}
    print(f"\nrebalance mid-run: {split} in {time.monotonic() - started:.1f}s, no overlap, no duplicate")


async def test_long_work_on_a_partition_that_stays_survives_a_second_member_joining(infra):
    settings = AliceSettings(
        service_name="consume-loop-rebalance",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('loop')}.",
    )
    await ensure_topics(settings, [TOPIC], partitions=4)
    producer = kafka_producer(settings)
    await producer.start()
    topic = settings.topic(TOPIC)
    await producer.send_and_wait(topic, b"long", key=b"long", partition=0)

    started: list[str] = []
    handled: list[str] = []
    cancelled: list[str] = []
    finish_long = asyncio.Event()

    async def handle(record) -> None:
        name = record.value.decode()
        started.append(name)
        if name == "long":
            try:
                await finish_long.wait()  # a reply being generated all through the rebalance
            except asyncio.CancelledError:
                cancelled.append(name)
                raise
        handled.append(name)

    options = ConsumeOptions(consumer_config=FAST_GROUP, revoke_timeout_s=0.5)
    first = ConsumeLoop(settings, TOPIC, "stay", handle, producer, options=options)
    second = ConsumeLoop(settings, TOPIC, "stay", handle, producer, options=options)
    await first.start()
    try:
        deadline = time.monotonic() + 30
        while "long" not in started:
            assert time.monotonic() < deadline, "the first member never started the long record"
            await asyncio.sleep(0.02)
        await second.start()
        while not (second.partitions and len(first.partitions) == 2):
            assert time.monotonic() < deadline + 15, (first.partitions, second.partitions)
            await asyncio.sleep(0.02)
        for p in range(4):  # every partition is consumed again, by one member each
            await producer.send_and_wait(topic, f"after-{p}".encode(), key=f"k{p}".encode(), partition=p)
        while len(handled) < 4:
            assert time.monotonic() < deadline + 30, handled
            await asyncio.sleep(0.02)
        finish_long.set()
        while "long" not in handled:
            assert time.monotonic() < deadline + 35, handled
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # a second run of "long" would show up now
        owners = (first.partitions, second.partitions)
    finally:
        finish_long.set()
        await second.stop()
        await first.stop()
        await producer.stop()

    assert cancelled == []
    assert started.count("long") == 1 and handled.count("long") == 1
    assert sorted(handled) == sorted(["long", "after-0", "after-1", "after-2", "after-3"])
    assert TopicPartition(topic, 0) in owners[0] and not (owners[0] & owners[1])


async def test_a_busy_partition_that_must_move_is_drained_then_handed_over(infra):
    """Both partitions are busy when the second member joins: the first keeps one and releases
    the other; the release gives its stuck handler `revoke_timeout_s`, cancels it uncommitted,
    and only then does the second member get the partition and handle the record again."""
    settings = AliceSettings(
        service_name="consume-loop-rebalance",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('loop')}.",
    )
    await ensure_topics(settings, [TOPIC], partitions=2)
    producer = kafka_producer(settings)
    await producer.start()
    topic = settings.topic(TOPIC)
    await producer.send_and_wait(topic, b"{}", key=b"hold", partition=0)
    for key in ("a", "stuck", "b", "c"):
        await producer.send_and_wait(topic, b"{}", key=key.encode(), partition=1)

    handled: list[tuple[str, str]] = []
    cancelled: list[str] = []
    release_stuck = asyncio.Event()
    release_hold = asyncio.Event()

    def handler(member: str):
        async def handle(record) -> None:
            key = record.key.decode()
            try:
                if key == "hold":
                    await release_hold.wait()
                elif key == "stuck" and not release_stuck.is_set():
                    await asyncio.Event().wait()  # hangs until the release gives up on it
            except asyncio.CancelledError:
                cancelled.append(key)
                release_stuck.set()  # the next delivery goes through
                raise
            handled.append((member, key))

        return handle

    options = ConsumeOptions(consumer_config=FAST_GROUP, revoke_timeout_s=0.5)
    first = ConsumeLoop(settings, TOPIC, "move", handler("first"), producer, options=options)
    second = ConsumeLoop(settings, TOPIC, "move", handler("second"), producer, options=options)
    await first.start()
    try:
        deadline = time.monotonic() + 30
        while sorted(k for _, k in handled) != ["a", "b", "c"]:
            assert time.monotonic() < deadline, f"handled {handled}"
            await asyncio.sleep(0.02)
        await second.start()
        while ("second", "stuck") not in handled:
            assert time.monotonic() < deadline + 15, f"handled {handled}, cancelled {cancelled}"
            await asyncio.sleep(0.02)
        release_hold.set()
        while ("first", "hold") not in handled:
            assert time.monotonic() < deadline + 20, f"handled {handled}"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        owners = (first.partitions, second.partitions)
    finally:
        release_hold.set()
        await second.stop()
        await first.stop()
        await producer.stop()
    assert cancelled == ["stuck"]
    assert owners == ({TopicPartition(topic, 0)}, {TopicPartition(topic, 1)})
    # Redelivered from the committed offset (the stuck record); "b" and "c", finished above it,
    # are skipped thanks to the commit metadata. "hold" ran once, on the member that kept it.
    assert sorted(handled[:3]) == [("first", "a"), ("first", "b"), ("first", "c")]
    assert handled[3:] == [("second", "stuck"), ("first", "hold")]
