"""A test session ending on shared servers removes its own topics and databases and nothing of a
session still running (of this checkout or another one, whose leases it cannot see)."""

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from alice_common import topics
from alice_common.kafka import ensure_topics
from alice_common.settings import AliceSettings
from devstack.testing.testdata import Ownership, remove_owned
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


def session_ownership() -> Ownership:
    """What a session with a fresh id owns, one name from its unique_name() included."""
    sid = uuid.uuid4().hex[:10]
    return Ownership(f"test-{sid}.", f"test_{sid}", frozenset({f"e2e-x_{sid}"}))


def topics_of(owner: Ownership) -> list[str]:
    (name,) = owner.names
    names = [f"{owner.topic_prefix}{topics.CHAT_REQUESTS.name}", f"{name}.{topics.DOCUMENTS_UPLOADED.name}"]
    return names + [topics.dlq_name(topic) for topic in names]


async def create_topics(bootstrap: str, owner: Ownership) -> None:
    (name,) = owner.names
    for prefix, topic in (
        (owner.topic_prefix, topics.CHAT_REQUESTS),
        (f"{name}.", topics.DOCUMENTS_UPLOADED),
    ):
        settings = AliceSettings(kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=prefix)
        await ensure_topics(settings, [topic], partitions=1, replication=1)  # the topic and its .dlq


async def topics_settle(admin: AIOKafkaAdminClient, present: set[str], absent: set[str]) -> set[str]:
    """The topic list once it shows `present` and not `absent` (Kafka's metadata follows creations
    and deletions shortly after their replies), or as it is after 10 s."""
    for _ in range(50):
        found = set(await admin.list_topics())
        if present <= found and not absent & found:
            break
        await asyncio.sleep(0.2)
    return found


async def test_a_session_ending_removes_only_what_it_owns(infra):
    ending, running = session_ownership(), session_ownership()
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    mongo = AsyncMongoClient(infra.mongodb_url, serverSelectionTimeoutMS=5000)
    await admin.start()
    try:
        for owner in (ending, running):
            await create_topics(infra.kafka_bootstrap_servers, owner)
        created = set(topics_of(ending) + topics_of(running))
        assert created <= await topics_settle(admin, created, set())
        for owner in (ending, running):
            await mongo[owner.database]["messages"].insert_one({"text": "kept until its session ends"})
        (ending_name,) = ending.names
        await mongo[ending_name]["documents"].insert_one({"text": "a unique_name() database"})

        await asyncio.to_thread(remove_owned, infra.kafka_bootstrap_servers, infra.mongodb_url, ending)

        kept, gone = set(topics_of(running)), set(topics_of(ending))
        found_topics = await topics_settle(admin, kept, gone)
        assert not gone & found_topics
        assert kept <= found_topics
        found_dbs = set(await mongo.list_database_names())
        assert ending.database not in found_dbs and ending_name not in found_dbs
        assert running.database in found_dbs
    finally:
        await asyncio.to_thread(remove_owned, infra.kafka_bootstrap_servers, infra.mongodb_url, running)
        await admin.close()
        await mongo.close()
