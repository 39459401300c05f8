"""Crash attribution against a real Kafka and the real counter stores (Redis and the
MongoDB-protocol server): a crash is blamed only on a record that crashed its consumer alone.

The consumer runs in a child process (this file run as a script) that logs each handler start and
end. The test SIGKILLs it while handlers run, over and over, as an outside killer would; a
"poison" record SIGKILLs its own process each time it runs.

- innocent neighbours: records in flight at every kill, killed more often than the old
  `max_deliveries` (3) allowed, are never dead-lettered, and all complete once the kills stop;
- a poison record is dead-lettered after at most `max_solo_crashes` + 1 crashes, and its
  neighbours (same partition, other keys, and a later record of its own key) complete.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import TextIO

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from alice_common.kafka import HEADER_ERROR_TYPE, ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.kafka.deliveries import COLLECTION, MongoDeliveryCounter, RedisDeliveryCounter, record_key
from alice_common.kafka.isolation import Deliveries
from alice_common.settings import AliceSettings
from devstack.testing import unique_name
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration

TOPIC = "attribution"
GROUP = "attribution"
SLOW_S = 1.0  # long enough for a kill to land mid-handler
POISON_AFTER_S = 0.3  # the poison lets its neighbours start before it kills the process


def make_settings(bootstrap: str, prefix: str) -> AliceSettings:
    return AliceSettings(
        service_name="crash-attribution", kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix
    )


async def run_worker(
    bootstrap: str,
    prefix: str,
    store: str,
    store_url: str,
    database: str,
    max_solo_crashes: str,
    log: TextIO,
) -> None:
    """The child: consume until SIGKILLed (from outside, or by the poison) or stopped by SIGTERM."""
    settings = make_settings(bootstrap, prefix)
    if store == "mongo":
        counter = MongoDeliveryCounter(AsyncMongoClient(store_url)[database][COLLECTION])
    else:
        counter = RedisDeliveryCounter(aioredis.from_url(store_url))

    async def handle(record) -> None:
        name = record.value.decode()
        log.write(json.dumps({"at": "start", "name": name, "pid": os.getpid()}) + "\n")
        if name.startswith("poison"):
            await asyncio.sleep(POISON_AFTER_S)
            os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally
        await asyncio.sleep(SLOW_S if name.startswith("slow") else 0.05)
        log.write(json.dumps({"at": "done", "name": name, "pid": os.getpid()}) + "\n")

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    loop = ConsumeLoop(
        settings, TOPIC, GROUP, handle, producer,
        delivery_counter=counter,
        options=ConsumeOptions(
            max_solo_crashes=int(max_solo_crashes), commit_interval_s=0.1,
            # Static membership: a restarted child takes its predecessor's place at once instead of
            # waiting out the dead member's session.
            consumer_config={
                "session_timeout_ms": 6000, "heartbeat_interval_ms": 500, "group_instance_id": "worker",
            },
        ),
    )  # fmt: skip
    await loop.start()
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await loop.stop()
    await producer.stop()


def read_log(path: Path) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


class Worker:
    """Spawns the child consumer, again and again, like a supervisor."""

    def __init__(
        self, infra, settings: AliceSettings, store: str, database: str, tmp_path: Path, max_solo_crashes: int
    ) -> None:
        store_url = infra.mongodb_url if store == "mongo" else infra.redis_url
        self.argv = [
            __file__, infra.kafka_bootstrap_servers, settings.kafka_topic_prefix, store, store_url, database,
        ]  # fmt: skip
        self.log = tmp_path / "handlers.jsonl"
        self.out = tmp_path / "worker.out"
        self.argv += [str(max_solo_crashes), str(self.log)]
        self.exits: list[int] = []
        self.pids: list[int] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        fd = os.open(self.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.argv, stdout=fd, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            os.close(fd)
        self.pids.append(self.proc.pid)

    def events(self, at: str | None = None, pid: int | None = None) -> list[dict]:
        return [
            e
            for e in read_log(self.log)
            if (at is None or e["at"] == at) and (pid is None or e["pid"] == pid)
        ]

    async def wait_for(self, condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.tail()}"
            await asyncio.sleep(0.02)

    async def ended(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"the worker did not end within {timeout_s}s: {self.tail()}") from None
        self.exits.append(code)
        return code

    async def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.ended(10)

    async def stop(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await self.ended(30)

    def tail(self) -> str:
        return self.out.read_text()[-3000:] if self.out.exists() else ""

    def most_at_once(self, pid: int) -> int:
        running = most = 0
        for e in self.events(pid=pid):
            running += 1 if e["at"] == "start" else -1
            most = max(most, running)
        return most


@pytest.fixture
def settings(infra) -> AliceSettings:
    return make_settings(infra.kafka_bootstrap_servers, f"{infra.kafka_topic_prefix}{unique_name('blame')}.")


async def produce(settings: AliceSettings, records: list[tuple[str, str]]) -> None:
    await ensure_topics(settings, [TOPIC], partitions=1)  # one partition: all are neighbours
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, name in records:
            await producer.send_and_wait(settings.topic(TOPIC), name.encode(), key=key.encode())
    finally:
        await producer.stop()


async def dead_lettered(settings: AliceSettings) -> list:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partition = TopicPartition(settings.topic(f"{TOPIC}.dlq"), 0)
        consumer.assign([partition])
        end = (await consumer.end_offsets([partition]))[partition]
        records = []
        while len(records) < end:
            batch = await consumer.getmany(partition, timeout_ms=5000)
            assert batch, "the dead-letter topic did not deliver what it holds"
            records.extend(batch[partition])
        return records
    finally:
        await consumer.stop()


async def counts_left(infra, settings: AliceSettings, store: str, database: str) -> int:
    if store == "mongo":
        mongo = AsyncMongoClient(infra.mongodb_url)
        try:
            return await mongo[database][COLLECTION].count_documents({})
        finally:
            await mongo.drop_database(database)
            await mongo.close()
    redis = aioredis.from_url(infra.redis_url)
    try:
        pattern = f"kafkainflight:{settings.group(GROUP)}/{settings.topic(TOPIC)}/*"
        return len([k async for k in redis.scan_iter(pattern)])
    finally:
        await redis.aclose()


@pytest.mark.parametrize("store", ["redis", "mongo"])
async def test_records_in_flight_at_repeated_kills_are_never_dead_lettered(infra, settings, store, tmp_path):
    names = ["slow-a", "slow-b", "slow-c"]
    await produce(settings, [(name[-1], name) for name in names])
    database = unique_name("blame")
    worker = Worker(infra, settings, store, database, tmp_path, max_solo_crashes=3)  # the default
    # An outside killer that strikes while handlers run, alone or not: the first kill catches all
    # three together; after it each one runs alone as a suspect, and every later kill lands on
    # whichever of them is running. Six kills, twice the old limit of three deliveries: five solo
    # crashes spread over three suspects (the least-blamed runs first), none reaches three.
    kills = 6
    started = time.monotonic()
    for round_ in range(kills):
        await worker.spawn()
        pid = worker.proc.pid
        wanted = len(names) if round_ == 0 else 1
        await worker.wait_for(
            lambda pid=pid, wanted=wanted: len(worker.events("start", pid)) >= wanted, 30, f"round {round_}"
        )
        await asyncio.sleep(0.2)  # mid-handler: each sleeps SLOW_S
        await worker.kill()
    assert not worker.events("done"), "a handler finished: the kills did not all land mid-run"
    for pid in worker.pids[1:]:
        assert worker.most_at_once(pid) == 1, "a suspect ran beside another record"

    # The kills stop: every record completes, one at a time (each is a suspect now).
    await worker.spawn()
    pid = worker.proc.pid
    try:
        await worker.wait_for(lambda: len(worker.events("done", pid)) == len(names), 30, "all records done")
    finally:
        await worker.stop()
    elapsed = time.monotonic() - started
    assert sorted(e["name"] for e in worker.events("done")) == names
    assert worker.most_at_once(pid) == 1
    assert worker.exits == [-signal.SIGKILL] * kills + [0]
    assert await dead_lettered(settings) == []
    assert await counts_left(infra, settings, store, database) == 0
    runs = {name: sum(1 for e in worker.events("start") if e["name"] == name) for name in names}
    print(
        f"\n{store}: {kills} kills, runs per record {runs}, nothing dead-lettered, all done in {elapsed:.1f}s"
    )


@pytest.mark.parametrize("store", ["redis", "mongo"])
async def test_a_poison_record_is_dead_lettered_within_the_bound_and_its_neighbours_complete(
    infra, settings, store, tmp_path
):
    records = [("x", "slow-x"), ("p", "poison"), ("y", "slow-y"), ("p", "after-poison")]
    await produce(settings, records)
    database = unique_name("blame")
    max_solo_crashes = 2
    worker = Worker(infra, settings, store, database, tmp_path, max_solo_crashes)
    finished = {"slow-x", "slow-y", "after-poison"}
    started = time.monotonic()
    for _ in range(max_solo_crashes + 3):  # a supervisor restarting the crashed consumer
        await worker.spawn()
        pid = worker.proc.pid
        await worker.wait_for(
            lambda: (
                worker.proc.returncode is not None or finished <= {e["name"] for e in worker.events("done")}
            ),
            40,
            "a crash or the neighbours done",
        )
        if worker.proc.returncode is None:
            break
        await worker.ended(5)
    await worker.stop()
    elapsed = time.monotonic() - started

    crashes = max_solo_crashes + 1  # once beside its neighbours, then alone each time
    assert worker.exits == [-signal.SIGKILL] * crashes + [0], worker.tail()
    assert sum(1 for e in worker.events("start") if e["name"] == "poison") == crashes
    assert {e["name"] for e in worker.events("done")} == {"slow-x", "slow-y", "after-poison"}
    assert {e["name"] for e in worker.events("start", worker.pids[0])} >= {"slow-x", "poison", "slow-y"}
    for pid in worker.pids[1:]:
        assert worker.most_at_once(pid) == 1, "the suspects did not run alone"
    [dead] = await dead_lettered(settings)
    assert dead.value == b"poison"
    assert dict(dead.headers)[HEADER_ERROR_TYPE] == b"DeliveryLimitExceeded"
    assert await counts_left(infra, settings, store, database) == 0
    print(f"\n{store}: poison dead-lettered after {crashes} crashes, neighbours done, {elapsed:.1f}s in all")


def counter_for(infra, store: str, database: str):
    if store == "mongo":
        return MongoDeliveryCounter(AsyncMongoClient(infra.mongodb_url)[database][COLLECTION])
    return RedisDeliveryCounter(aioredis.from_url(infra.redis_url))


async def peek(counter, group: str, record) -> tuple[int, int] | None:
    """(deliveries, solo) as stored, or None when the record has no counts."""
    if isinstance(counter, MongoDeliveryCounter):
        doc = await counter.col.find_one({"_id": record_key(group, record)})
        return None if doc is None else (doc["deliveries"], doc.get("solo", 0))
    stored = await counter.redis.hgetall(counter.key(group, record))
    return (int(stored[b"deliveries"]), int(stored.get(b"solo", 0))) if stored else None


@pytest.mark.parametrize("store", ["redis", "mongo"])
async def test_a_graceful_stop_is_not_a_crash_and_keeps_earlier_evidence(infra, settings, store):
    await produce(settings, [("k", "suspect")])
    record = SimpleNamespace(topic=settings.topic(TOPIC), partition=0, offset=0)
    group = settings.group(GROUP)
    database = unique_name("blame")
    counter = counter_for(infra, store, database)
    assert await counter.begin(group, record) == Deliveries(1, 0)
    assert await counter.begin(group, record) == Deliveries(2, 0)  # the first one crashed
    await counter.give_back(group, record, solo=False)  # the second one was stopped gracefully
    assert await peek(counter, group, record) == (1, 0)

    started, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def handle(record) -> None:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        loop = ConsumeLoop(
            settings, TOPIC, GROUP, handle, producer, delivery_counter=counter,
            options=ConsumeOptions(drain_timeout_s=0.3),
        )  # fmt: skip
        await loop.start()
        try:
            await asyncio.wait_for(started.wait(), 30)
            assert await peek(counter, group, record) == (2, 1)  # a suspect: counted alone first
        finally:
            await loop.stop()  # cancels the hanging handler: given back, not crashed
        assert await peek(counter, group, record) == (1, 0)  # the crash before it is still known

        release.set()
        loop = ConsumeLoop(settings, TOPIC, GROUP, handle, producer, delivery_counter=counter)
        await loop.start()
        try:
            deadline = time.monotonic() + 30
            while await peek(counter, group, record) is not None:  # finished: counts removed
                assert time.monotonic() < deadline, "the suspect did not finish"
                await asyncio.sleep(0.05)
        finally:
            await loop.stop()
    finally:
        await producer.stop()
        await counts_left(infra, settings, store, database)  # drops the database
        if isinstance(counter, RedisDeliveryCounter):
            await counter.redis.aclose()
        else:
            await counter.col.database.client.close()
    assert runs == 2
    assert await dead_lettered(settings) == []


if __name__ == "__main__":
    with open(sys.argv[7], "a", buffering=1) as handler_log:  # line-buffered: on disk at the kill
        asyncio.run(run_worker(*sys.argv[1:7], handler_log))
