"""Consume-loop benchmark: throughput of key-ordered concurrency against a real Kafka.

Produces `--events` events over `--keys` keys on `--partitions` partitions, then consumes them
with a handler that waits `--delay-ms` (an I/O-bound handler: a database write, an HTTP call)
once per `--concurrency` value, each run in a fresh consumer group. Reports events/s, the peak
number of handlers running at once, and the speed-up over one handler at a time per partition
(what a plain partition-ordered consumer would get).

    source scripts/env.sh && $UV run --frozen python bench/consume_loop.py           # Kafka on 9092
    $UV run --frozen python bench/consume_loop.py --events 5000 --keys 200 --concurrency 1 8 32 128
"""

import argparse
import asyncio
import time
import uuid

from alice_common.clients import kafka_producer
from alice_common.kafka import ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.settings import AliceSettings

TOPIC = "bench.events"


async def consume_all(settings, producer, group: str, events: int, concurrency: int, delay_s: float):
    done = 0
    running = peak = 0
    first_record_at: float | None = None
    finished = asyncio.Event()

    async def handle(record) -> None:
        nonlocal done, running, peak, first_record_at
        first_record_at = first_record_at or time.monotonic()
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(delay_s)
        running -= 1
        done += 1
        if done >= events:
            finished.set()

    loop = ConsumeLoop(
        settings, TOPIC, group, handle, producer, options=ConsumeOptions(max_concurrency=concurrency)
    )
    await loop.start()
    try:
        await finished.wait()
        elapsed = time.monotonic() - first_record_at  # from the first record: joining the group excluded
    finally:
        await loop.stop()
    return peak, elapsed


async def main(args: argparse.Namespace) -> None:
    settings = AliceSettings(
        service_name="bench-consume-loop", kafka_topic_prefix=f"bench-{uuid.uuid4().hex[:8]}."
    )
    if args.bootstrap:
        settings.kafka_bootstrap_servers = args.bootstrap
    await ensure_topics(settings, [TOPIC], partitions=args.partitions)
    producer = kafka_producer(settings)
    await producer.start()
    try:
        sends = []
        for i in range(args.events):
            key = f"key-{i % args.keys}".encode()
            sends.append(await producer.send(settings.topic(TOPIC), b"{}", key=key))
        await asyncio.gather(*sends)
        delay_s = args.delay_ms / 1000
        partition_ordered = args.partitions / delay_s  # one handler at a time per partition
        print(
            f"{args.events} events, {args.keys} keys, {args.partitions} partitions, "
            f"handler {args.delay_ms} ms (one at a time per partition: {partition_ordered:.0f} events/s)"
        )
        print(f"{'concurrency':>11} {'events/s':>9} {'peak':>5} {'speed-up':>9}")
        for concurrency in args.concurrency:
            group = f"bench-{concurrency}-{uuid.uuid4().hex[:6]}"
            peak, elapsed = await consume_all(settings, producer, group, args.events, concurrency, delay_s)
            rate = args.events / elapsed
            print(f"{concurrency:>11} {rate:>9.0f} {peak:>5} {rate / partition_ordered:>8.1f}x")
    finally:
        await producer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    asyncio.run(main(parser.parse_args()))
