"""Test data a session owns, and its removal when the session ends.

The shared dev stack would otherwise pile up thousands of prefixed topics (which slow Kafka and
kafkaflow) and databases. A session removes only what it can prove is its own, never "whatever is
new": sessions of other checkouts (with another ALICE_DEVSTACK_DIR, so invisible to this one's
leases) may be running on the same servers. It owns:
  - topics under its prefix `test-<session_id>.` and its database `test_<session_id>`;
  - topics under, and databases named by, a name `unique_name` handed out in this process.
"""

import asyncio
import sys
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# Every name unique_name() returned in this process: random, so no other session can hold one.
_handed_out: set[str] = set()


def unique_name(prefix: str = "t") -> str:
    """A name no other test run uses: letters, digits, '_' (and the prefix's '-'), valid for
    databases and topics. The session removes topics and databases named with it when it ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _handed_out.add(name)
    return name


def handed_out_names() -> frozenset[str]:
    return frozenset(_handed_out)


@dataclass(frozen=True)
class Ownership:
    """What one test session may delete."""

    topic_prefix: str  # the session's `test-<session_id>.`
    database: str  # the session's `test_<session_id>`
    names: frozenset[str]  # unique_name() results

    def owns_topic(self, topic: str) -> bool:
        if topic.startswith(self.topic_prefix):
            return True
        return any(topic == name or topic.startswith(f"{name}.") for name in self.names)

    def owns_database(self, database: str) -> bool:
        return database == self.database or database in self.names

    def topics(self, existing: Iterable[str]) -> list[str]:
        return sorted(t for t in existing if self.owns_topic(t))

    def databases(self, existing: Iterable[str]) -> list[str]:
        return sorted(d for d in existing if self.owns_database(d))


def _run(coroutine_fn: Callable):
    """Run an async admin call to completion from sync code, even when the caller's thread already
    runs an event loop (session fixtures can be torn down from inside an async test)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine_fn()).result()


def remove_owned(kafka_bootstrap_servers: str, mongodb_url: str, ownership: Ownership) -> None:
    """Delete the session's topics and databases; a failure is reported, never a test failure."""
    try:
        topics = ownership.topics(_list_topics(kafka_bootstrap_servers))
        if topics:
            _run(lambda: _delete_topics(kafka_bootstrap_servers, topics))
        databases = _drop_databases(mongodb_url, ownership)
        print(f"devstack.testing: removed {len(topics)} test topics and {len(databases)} test databases")
    except Exception as exc:  # cleanup is hygiene
        print(f"devstack.testing: could not remove test data: {exc}", file=sys.stderr)


def _list_topics(bootstrap: str) -> set[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    async def list_topics() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    return _run(list_topics)


async def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=60000)
    await admin.start()
    try:
        for i in range(0, len(topics), 100):
            await admin.delete_topics(topics[i : i + 100])
    finally:
        await admin.close()


def _drop_databases(mongodb_url: str, ownership: Ownership) -> list[str]:
    from pymongo import MongoClient

    with MongoClient(mongodb_url, serverSelectionTimeoutMS=3000) as client:
        databases = ownership.databases(client.list_database_names())
        for name in databases:
            client.drop_database(name)
    return databases
