"""A consumer SIGKILLed mid-run loses nothing: a new member of its group handles every event.

The first consumer runs in a child process (this file run as a script) that logs each handler
start and end; the test kills it with SIGKILL, so no shutdown code runs and nothing more is
committed. Then it checks the group's committed offsets against what was unfinished at the kill,
and starts a second consumer in the same group.
"""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TextIO

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from alice_common.kafka import ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.settings import AliceSettings
from devstack.testing import unique_name

pytestmark = pytest.mark.integration

TOPIC = "crashy"
GROUP = "crashy-group"
EVENTS = 1000
KEYS = 20


def make_settings(bootstrap: str, prefix: str) -> AliceSettings:
    return AliceSettings(
        service_name="consume-loop-crash", kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix
    )


async def run_worker(bootstrap: str, prefix: str, log: TextIO) -> None:
    """The child process: consume with slow handlers until killed, logging `start`/`done` lines."""
    settings = make_settings(bootstrap, prefix)
    rng = random.Random(os.getpid())

    async def handle(record) -> None:
        where = {"key": record.key.decode(), "value": record.value.decode(), "p": record.partition}
        log.write(json.dumps({"at": "start", "o": record.offset, **where}) + "\n")
        await asyncio.sleep(rng.uniform(0.002, 0.012))
        log.write(json.dumps({"at": "done", "o": record.offset, **where}) + "\n")

    # Not alice_common.clients: its imports (Weaviate, MongoDB) would slow the child's start.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    loop = ConsumeLoop(
        settings, TOPIC, GROUP, handle, producer,
        options=ConsumeOptions(
            max_concurrency=8, commit_interval_s=0.1,
            # The group notices the dead member after the session timeout; keep it at the broker minimum.
            consumer_config={"session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        ),
    )  # fmt: skip
    await loop.start()
    await asyncio.Event().wait()  # until SIGKILL


def read_log(path: Path) -> list[dict]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


async def committed_offsets(settings: AliceSettings) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group(GROUP))
        return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()


async def test_hard_crash_mid_run_then_restart_handles_every_event(infra, tmp_path):
    from alice_common.clients import kafka_producer

    prefix = f"{infra.kafka_topic_prefix}{unique_name('loop')}."
    settings = make_settings(infra.kafka_bootstrap_servers, prefix)
    await ensure_topics(settings, [TOPIC], partitions=3)
    producer = kafka_producer(settings)
    await producer.start()
    try:
        rng = random.Random(3)
        seqs: dict[str, int] = defaultdict(int)
        sends = []
        for _ in range(EVENTS):
            key = f"key-{rng.randrange(KEYS):02d}"
            value = str(seqs[key]).encode()
            sends.append(await producer.send(settings.topic(TOPIC), value, key=key.encode()))
            seqs[key] += 1
        produced = {(m.partition, m.offset) for m in await asyncio.gather(*sends)}

        # 1. The first consumer, killed once about a third of the events are done.
        log_path = tmp_path / "worker.jsonl"
        worker_out = tmp_path / "worker.out"
        out_fd = os.open(worker_out, os.O_WRONLY | os.O_CREAT)
        argv = [__file__, infra.kafka_bootstrap_servers, settings.kafka_topic_prefix, str(log_path)]
        worker = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=out_fd, stderr=subprocess.STDOUT, start_new_session=True
        )
        os.close(out_fd)
        try:
            spawned = time.monotonic()
            deadline = spawned + 40
            while sum(1 for e in read_log(log_path) if e["at"] == "done") < EVENTS // 3:
                assert worker.returncode is None, worker_out.read_text()[-3000:]
                assert time.monotonic() < deadline, "the worker did not get through a third of the events"
                await asyncio.sleep(0.02)
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            await asyncio.wait_for(worker.wait(), 10)
        killed_at = time.monotonic()
        worker_run_s = killed_at - spawned

        first = read_log(log_path)
        done_first = {(e["p"], e["o"]) for e in first if e["at"] == "done"}
        in_flight_at_kill = {(e["p"], e["o"]) for e in first if e["at"] == "start"} - done_first
        assert in_flight_at_kill, "the kill should catch handlers mid-way"
        assert len(done_first) < EVENTS

        # The committed offsets never pass a record the first consumer had not finished.
        committed = await committed_offsets(settings)
        for partition, offset in produced - done_first:
            assert committed.get(partition, 0) <= offset, f"committed past unfinished {partition}@{offset}"

        # 2. A new member of the same group picks up from the committed offsets.
        handled: list[tuple[int, int, str, int]] = []

        async def handle(record) -> None:
            handled.append((record.partition, record.offset, record.key.decode(), int(record.value)))

        second = ConsumeLoop(
            settings, TOPIC, GROUP, handle, producer, options=ConsumeOptions(max_concurrency=8)
        )
        await second.start()
        try:
            # The group first waits out the killed member's session; a loaded machine adds to it.
            deadline = time.monotonic() + 90
            while done_first | {(p, o) for p, o, _, _ in handled} != produced:
                assert time.monotonic() < deadline, "events missing after the restart"
                await asyncio.sleep(0.05)
            recovered_after = time.monotonic() - killed_at
        finally:
            await second.stop()
    finally:
        await producer.stop()

    handled_second = {(p, o) for p, o, _, _ in handled}
    assert in_flight_at_kill <= handled_second, "work in flight at the crash was not redelivered"
    assert len(handled) == len(handled_second), "the second consumer alone handled something twice"
    # The second consumer keeps each key's order: consecutive sequence numbers up to the last one.
    by_key: dict[str, list[int]] = defaultdict(list)
    for _, _, key, seq in handled:
        by_key[key].append(seq)
    for key, got in by_key.items():
        assert got == list(range(got[0], seqs[key])), f"key {key} out of order after the restart"
    assert await committed_offsets(settings) == {
        p: max(o for q, o in produced if q == p) + 1 for p in {p for p, _ in produced}
    }
    redelivered = len(done_first & handled_second)
    print(
        f"\ncrash after {len(done_first)} of {EVENTS} done ({len(in_flight_at_kill)} in flight, "
        f"{worker_run_s:.1f}s after spawning the worker); "
        f"the restart handled {len(handled_second)}, {redelivered} of them a second time; "
        f"all {EVENTS} handled {recovered_after:.1f}s after the kill"
    )


if __name__ == "__main__":
    with open(sys.argv[3], "a", buffering=1) as worker_log:  # line-buffered: every line is on disk
        asyncio.run(run_worker(sys.argv[1], sys.argv[2], worker_log))
