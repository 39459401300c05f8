"""A second member joins mid-run: the revoke hands partitions over cleanly.

On revoke the first member stops taking work for its partitions, lets in-flight handlers finish
and commits them, so the new owner starts exactly at the first unfinished record: no key is ever
handled by both members at once, and with short handlers nothing is handled twice.
"""

import asyncio
import random
import time
from collections import defaultdict

import pytest
from alice_common.clients import kafka_producer
from alice_common.kafka import ConsumeLoop, ensure_topics
from alice_common.settings import AliceSettings
from devstack.testing import unique_name

pytestmark = pytest.mark.integration

TOPIC = "shared"
EVENTS = 1000
KEYS = 20
FAST_GROUP = {"heartbeat_interval_ms": 200}  # members notice a rebalance within 0.2 s


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

    first = ConsumeLoop(settings, TOPIC, "pair", handler("first"), producer, consumer_options=FAST_GROUP)
    second = ConsumeLoop(settings, TOPIC, "pair", handler("second"), producer, consumer_options=FAST_GROUP)
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


async def test_a_handler_stuck_at_revoke_is_cancelled_uncommitted_and_handled_again(infra):
    settings = AliceSettings(
        service_name="consume-loop-rebalance",
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name('loop')}.",
    )
    await ensure_topics(settings, [TOPIC], partitions=1)
    producer = kafka_producer(settings)
    await producer.start()
    for key in ("a", "stuck", "b", "c"):
        await producer.send_and_wait(settings.topic(TOPIC), b"{}", key=key.encode())

    handled: list[str] = []
    cancelled: list[str] = []
    release_stuck = asyncio.Event()

    async def handle(record) -> None:
        key = record.key.decode()
        if key == "stuck" and not release_stuck.is_set():
            try:
                await asyncio.Event().wait()  # hangs until the revoke gives up on it
            except asyncio.CancelledError:
                cancelled.append(key)
                release_stuck.set()  # the next delivery goes through
                raise
        handled.append(key)

    options = dict(consumer_options=FAST_GROUP, revoke_timeout_s=0.5)
    first = ConsumeLoop(settings, TOPIC, "stuck", handle, producer, **options)
    second = ConsumeLoop(settings, TOPIC, "stuck", handle, producer, **options)
    await first.start()
    try:
        deadline = time.monotonic() + 30
        while sorted(handled) != ["a", "b", "c"]:
            assert time.monotonic() < deadline, f"handled {handled}"
            await asyncio.sleep(0.02)
        await second.start()  # the rebalance revokes the partition while "stuck" hangs
        while "stuck" not in handled:
            assert time.monotonic() < deadline + 15, f"handled {handled}, cancelled {cancelled}"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
    finally:
        await second.stop()
        await first.stop()
        await producer.stop()
    assert cancelled == ["stuck"]
    # Redelivered from the committed offset (the stuck record); "b" and "c", finished above it,
    # are skipped thanks to the commit metadata.
    assert sorted(handled[:3]) == ["a", "b", "c"]
    assert handled[3:] == ["stuck"]
