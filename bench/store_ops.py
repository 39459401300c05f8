"""What one store operation of the chat path costs, as the collections grow (issue 13).

Fills a database of its own on the configured MongoDB-protocol server with messages (in 50
conversations) and then, at each size, times the chat path's store operations through the
orchestrator's own `ChatStore`: look-ups and
updates by `_id` alone, an update that also filters on the owner, an insert, and one page of a
conversation's messages. It prints each operation's median latency and, when the server is the
native FerretDB, the server's CPU per operation (from /proc).

    source scripts/env.sh
    $UV run --frozen python bench/store_ops.py --sizes 500 2000 6000

A cost that grows with the size means the server scans the collection for that filter
(docs/performance.md, "The store's `_id` index").
"""

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from alice_orchestrator.store import ChatStore
from devstack.config import Config
from proc_cpu import INFRA_MARKERS, CpuMeter, find_pids
from pymongo import AsyncMongoClient

CONVERSATIONS = 50


def now() -> datetime:
    return datetime.now(UTC)


def owner(conversation: str) -> str:
    return "user-" + conversation[:8]


async def timed(label: str, op: Callable[[int], Awaitable[object]], n: int) -> None:
    server = CpuMeter(services={}, infra={"store": find_pids(INFRA_MARKERS["mongo (ferretdb)"])})
    cpu_before = server.sample()
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        latencies.append((time.perf_counter() - started) * 1000)
    spent = server.since(cpu_before).get("store")
    cpu = f"{spent / n:6.2f} ms" if spent is not None else "n/a"
    print(f"  {label:44s} p50 {statistics.median(latencies):7.2f} ms   server CPU/op {cpu}", flush=True)


async def measure(store: ChatStore, ids: list[str], recent: list[str]) -> None:
    n = len(recent)
    await timed("message find_one {_id}", lambda i: store.get_message(recent[i]), n)
    await timed(
        "conversation update_one {_id}", lambda i: store.touch_conversation(ids[i % CONVERSATIONS]), n
    )
    await timed(
        "conversation update_one {_id, user_id}",  # the filter the store used before issue 13
        lambda i: store.conversations.update_one(
            {"_id": ids[i % CONVERSATIONS], "user_id": owner(ids[i % CONVERSATIONS])},
            {"$set": {"updated_at": now()}},
        ),
        n,
    )
    await timed(
        "message insert_one",
        lambda i: store.insert_message(
            {
                "_id": uuid.uuid4().hex,
                "conversation_id": ids[0],
                "user_id": owner(ids[0]),
                "created_at": now(),
            }
        ),
        n,
    )
    await timed(
        "40 newest messages of a conversation",
        lambda i: store.list_messages(owner(ids[i % CONVERSATIONS]), ids[i % CONVERSATIONS], 40),
        max(1, n // 5),
    )


async def main(args: argparse.Namespace) -> None:
    client = AsyncMongoClient(args.mongodb_url or Config().service_env()["MONGODB_URL"], tz_aware=True)
    db = client[f"bench_store_{uuid.uuid4().hex[:8]}"]
    store = ChatStore(db)  # the orchestrator's own store: its indexes and its queries
    await store.ensure_indexes()
    ids = [uuid.uuid4().hex for _ in range(CONVERSATIONS)]
    await store.conversations.insert_many(
        [{"_id": c, "user_id": owner(c), "title": "t", "created_at": now(), "updated_at": now()} for c in ids]
    )
    stored: list[str] = []
    try:
        for size in args.sizes:
            batch = [
                {
                    "_id": uuid.uuid4().hex,
                    "conversation_id": ids[i % CONVERSATIONS],
                    "user_id": owner(ids[i % CONVERSATIONS]),
                    "role": "user",
                    "content": "x" * 200,
                    "status": "completed",
                    "created_at": now(),
                }
                for i in range(len(stored), size)
            ]
            for start in range(0, len(batch), 500):
                await store.messages.insert_many(batch[start : start + 500])
            stored += [doc["_id"] for doc in batch]
            print(f"{size} messages in {CONVERSATIONS} conversations")
            await measure(store, ids, stored[-args.ops :])
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 6000], help="messages stored")
    parser.add_argument("--ops", type=int, default=100, help="operations timed per kind and size")
    parser.add_argument("--mongodb-url", help="default: the devstack's")
    asyncio.run(main(parser.parse_args()))
