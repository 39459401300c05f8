"""The consume loop's failure policy against a real Kafka and MongoDB-protocol server.

- a permanent error (or an undecodable event) goes to the dead-letter topic after one attempt;
- a transient one is retried with growing, jittered pauses, and a record that recovers is handled.

A record whose handler kills the process: `test_consume_loop_crash_attribution.py`.
"""

import asyncio
import itertools
import time
from typing import Literal

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from alice_common.events import ChatCompleted, Event
from alice_common.kafka import (
    HEADER_ATTEMPTS,
    HEADER_ERROR_TYPE,
    ConsumeLoop,
    ConsumeOptions,
    ensure_topics,
    publish,
)
from alice_common.kafka.failures import PermanentError, backoff_s
from alice_common.settings import AliceSettings
from devstack.testing import unique_name

pytestmark = pytest.mark.integration

TOPIC = "failures"


class Job(Event):
    type: Literal["Job"] = "Job"
    name: str


def make_settings(bootstrap: str, prefix: str) -> AliceSettings:
    return AliceSettings(
        service_name="consume-failures", kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix
    )


@pytest.fixture
def settings(infra) -> AliceSettings:
    return make_settings(infra.kafka_bootstrap_servers, f"{infra.kafka_topic_prefix}{unique_name('loop')}.")


@pytest.fixture
async def producer(settings):
    p = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True, acks="all"
    )
    await p.start()
    yield p
    await p.stop()


async def dead_letters(
    settings: AliceSettings, count: int, timeout_s: float = 20, topic: str = TOPIC
) -> list:
    consumer = AIOKafkaConsumer(
        settings.topic(f"{topic}.dlq"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        return [await asyncio.wait_for(consumer.getone(), timeout_s) for _ in range(count)]
    finally:
        await consumer.stop()


async def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_backoff_grows_to_its_cap_with_jitter():
    pauses = [backoff_s(attempt, 0.5, 15.0) for attempt in range(1, 9)]
    for attempt, pause in enumerate(pauses, start=1):
        ceiling = min(15.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= pause <= ceiling
    assert sum(min(15.0, 0.5 * 2 ** (a - 1)) for a in range(1, 7)) >= 30  # rides out a restart
    assert len({backoff_s(3, 0.5, 15.0) for _ in range(20)}) > 1  # jittered


async def test_permanent_errors_and_undecodable_events_are_dead_lettered_at_once(settings, producer):
    await ensure_topics(settings, [TOPIC], partitions=1)
    await publish(producer, settings, TOPIC, Job(name="bad-owner"), key="k")
    await producer.send_and_wait(settings.topic(TOPIC), b"{not json", key=b"k")
    wrong = ChatCompleted(
        conversation_id="c", user_id="u", user_message_id="m", assistant_message_id="a", reply_id="r",
        user_content="q", assistant_content="a",
    )  # fmt: skip
    await publish(producer, settings, TOPIC, wrong, key="k")
    await publish(producer, settings, TOPIC, Job(name="fine"), key="k")

    calls: list[str] = []

    async def handle(event: Job, record) -> None:
        calls.append(event.name)
        if event.name == "bad-owner":
            raise PermanentError("this conversation belongs to someone else")

    loop = ConsumeLoop(
        settings, TOPIC, "permanent", handle, producer, event_type=Job, options=ConsumeOptions(max_attempts=5)
    )
    await loop.start()
    try:
        await wait_until(lambda: "fine" in calls, 30, "the record after the failures")
        records = await dead_letters(settings, 3)
    finally:
        await loop.stop()
    assert calls == ["bad-owner", "fine"]  # one attempt each; the undecodable ones never reach it
    types = [dict(r.headers)[HEADER_ERROR_TYPE] for r in records]
    assert types == [b"PermanentError", b"UndecodableEvent", b"UndecodableEvent"]
    assert all(dict(r.headers)[HEADER_ATTEMPTS] == b"1" for r in records)


async def test_transient_errors_are_retried_with_growing_pauses_until_they_pass(settings, producer):
    await ensure_topics(settings, [TOPIC], partitions=1)
    await publish(producer, settings, TOPIC, Job(name="flaky"), key="k")
    attempts: list[float] = []

    async def handle(event: Job, record) -> None:
        attempts.append(time.monotonic())
        if len(attempts) < 5:
            raise ConnectionError("MongoDB is electing a primary")

    loop = ConsumeLoop(
        settings, TOPIC, "transient", handle, producer,
        event_type=Job, options=ConsumeOptions(max_attempts=6, retry_backoff_s=0.2, retry_max_backoff_s=1.0),
    )  # fmt: skip
    await loop.start()
    try:
        await wait_until(lambda: len(attempts) == 5, 30, "five attempts")
    finally:
        await loop.stop()
    pauses = [b - a for a, b in itertools.pairwise(attempts)]
    for attempt, pause in enumerate(pauses, start=1):
        assert pause >= min(1.0, 0.2 * 2 ** (attempt - 1)) / 2 - 0.02, pauses
    assert pauses[-1] > pauses[0]
