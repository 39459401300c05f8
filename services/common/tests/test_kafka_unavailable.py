"""A handler that raises `Unavailable` (a dependency of this replica cannot be reached) is retried
without spending attempts until `unavailable_give_up_s`; meanwhile the rest of the topic flows,
and a stop or revoke gives the record back uncommitted to the next consumer. The loop runs on the
in-memory broker of tests/support/fake_kafka.py; other exceptions keep their `max_attempts`."""

import asyncio
import time

import pytest
from alice_common.kafka import HEADER_ATTEMPTS, HEADER_ERROR_TYPE, ConsumeLoop, ConsumeOptions
from alice_common.kafka.failures import PermanentError, Unavailable
from alice_common.settings import AliceSettings
from prometheus_client import REGISTRY

from tests.support.fake_kafka import FakeBroker, RecordingProducer, attach, move_away

SETTINGS = AliceSettings(service_name="unavailable-test", kafka_topic_prefix="t.")
TOPIC = "t.jobs"
FAST = dict(retry_backoff_s=0.01, retry_max_backoff_s=0.02, max_attempts=3, commit_interval_s=0.02)


class ModelDown(Unavailable):
    pass


def make_loop(handler, producer, dead: list | None = None, **options) -> ConsumeLoop:
    async def on_dead_letter(record, exc) -> None:
        if dead is not None:
            dead.append((record.value, exc))

    return ConsumeLoop(
        SETTINGS, "jobs", "workers", handler, producer,
        options=ConsumeOptions(**(FAST | options)), on_dead_letter=on_dead_letter,
    )  # fmt: skip


def script(*outcomes):
    """A handler failing with `outcomes` in turn (None: succeed), then succeeding; it notes each run."""
    runs: list[bytes] = []
    pending = list(outcomes)

    async def handler(record) -> None:
        runs.append(record.value)
        if pending:
            outcome = pending.pop(0)
            if outcome is not None:
                raise outcome

    return handler, runs


async def wait_until(condition, what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": TOPIC, "group": "t.workers"}) or 0.0


async def run_one(handler, **options) -> tuple[FakeBroker, RecordingProducer, list]:
    broker, producer, dead = FakeBroker(TOPIC, 1), RecordingProducer(), []
    broker.append(0, b"k", b"job")
    loop = make_loop(handler, producer, dead, **options)
    await attach(loop, broker, [0])
    try:
        await wait_until(lambda: broker.committed_offset(0) == 1, "the record to be finished")
    finally:
        await loop.stop()
    return broker, producer, dead


async def test_unavailable_failures_spend_no_attempts_and_the_record_is_handled_once_it_recovers():
    failed, unavailable = (
        counter("alice_kafka_record_failures_total"),
        counter("alice_kafka_records_unavailable_total"),
    )
    handler, runs = script(*[ModelDown("endpoint refused")] * 10)  # max_attempts is 3
    _, producer, dead = await run_one(handler)
    assert len(runs) == 11 and dead == [] and producer.sent == []
    assert counter("alice_kafka_record_failures_total") - failed == 10  # the canary analysis reads it
    assert counter("alice_kafka_records_unavailable_total") - unavailable == 10


async def test_a_record_unavailable_for_the_whole_window_is_dead_lettered_with_its_error():
    handler, runs = script(*[ModelDown("endpoint refused")] * 10_000)
    started = time.monotonic()
    _, producer, dead = await run_one(handler, unavailable_give_up_s=0.3)
    assert time.monotonic() - started >= 0.3
    assert len(runs) > 3  # far more runs than max_attempts
    [(topic, value, headers)] = producer.sent
    assert (topic, value, headers[HEADER_ERROR_TYPE]) == ("t.jobs.dlq", b"job", b"ModelDown")
    assert headers[HEADER_ATTEMPTS] == str(len(runs)).encode()
    assert [type(exc) for _, exc in dead] == [ModelDown]


@pytest.mark.parametrize(
    "outcomes, runs_before_dead_letter",
    [
        ([RuntimeError("mongo election")] * 10, 3),
        # Mixed: only the ordinary failures count towards max_attempts (3).
        ([ModelDown("down"), RuntimeError("a"), ModelDown("down"), RuntimeError("b"), RuntimeError("c")], 5),
        ([PermanentError("bad"), None], 1),
    ],
)
async def test_other_failures_keep_their_attempt_count(outcomes, runs_before_dead_letter):
    handler, runs = script(*outcomes)
    _, producer, dead = await run_one(handler)
    assert len(runs) == runs_before_dead_letter
    [(_, _, headers)] = producer.sent
    assert headers[HEADER_ERROR_TYPE] == type(outcomes[runs_before_dead_letter - 1]).__name__.encode()
    assert [type(exc) for _, exc in dead] == [type(outcomes[runs_before_dead_letter - 1])]


async def test_records_beside_an_unavailable_one_keep_flowing():
    broker, producer = FakeBroker(TOPIC, 2), RecordingProducer()
    broker.append(0, b"stuck", b"stuck")
    for i in range(3):
        broker.append(0, b"other", f"p0-{i}".encode())
        broker.append(1, b"third", f"p1-{i}".encode())
    handled: list[bytes] = []

    async def handler(record) -> None:
        if record.value == b"stuck":
            raise ModelDown("endpoint refused")
        handled.append(record.value)

    loop = make_loop(handler, producer, unavailable_give_up_s=60, drain_timeout_s=0.2)
    await attach(loop, broker, [0, 1])
    try:
        await wait_until(lambda: broker.committed_offset(1) == 3, "partition 1 to be committed")
        await wait_until(lambda: len(handled) == 6, "the other key of partition 0")
        await asyncio.sleep(0.1)
        assert broker.committed_offset(0) == 0  # the commit stops at the waiting record
        assert producer.sent == []
    finally:
        await loop.stop()


async def hold_then_hand_over(give_back) -> None:
    """A replica whose model is down holds a record; `give_back(loop, consumer)` ends its hold; a
    healthy replica then handles the record, and nobody dead-letters it."""
    broker, producer, dead = FakeBroker(TOPIC, 2), RecordingProducer(), []
    broker.append(0, b"c1", b"hello")
    down_runs: list[bytes] = []

    async def down(record) -> None:
        down_runs.append(record.value)
        raise ModelDown("connection refused")

    canary = make_loop(
        down, producer, dead, unavailable_give_up_s=60, drain_timeout_s=0.2, revoke_timeout_s=0.2
    )
    consumer = await attach(canary, broker, [0, 1])
    await wait_until(lambda: len(down_runs) >= 3, "the record to wait as unavailable")
    await give_back(canary, consumer)
    assert broker.committed_offset(0) == 0 and producer.sent == [] and dead == []

    handled: list[bytes] = []

    async def healthy(record) -> None:
        handled.append(record.value)

    stable = make_loop(healthy, producer, dead)
    await attach(stable, broker, [0])
    try:
        await wait_until(lambda: broker.committed_offset(0) == 1, "the next consumer to handle it")
    finally:
        await stable.stop()
        await canary.stop()
    assert handled == [b"hello"] and producer.sent == [] and dead == []


async def test_stopping_gives_a_waiting_unavailable_record_back_uncommitted():
    async def stop(loop, consumer) -> None:
        await loop.stop()

    await hold_then_hand_over(stop)


async def test_a_revoke_gives_a_waiting_unavailable_record_back_uncommitted():
    async def revoke(loop, consumer) -> None:
        await move_away(loop, consumer, [0])
        assert consumer.assignment() == {consumer.broker.partition(1)}

    await hold_then_hand_over(revoke)
