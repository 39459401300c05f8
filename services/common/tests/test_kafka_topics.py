"""ensure_topics against a real Kafka: prefixed topics and their .dlq, created once."""

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from alice_common import topics
from alice_common.kafka import ensure_topics
from alice_common.settings import AliceSettings
from devstack.testing import unique_name

pytestmark = pytest.mark.integration


async def test_creates_prefixed_topics_with_their_dlq_once(infra):
    settings = AliceSettings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{unique_name()}.",
        kafka_topic_partitions=3,
    )
    wanted = [topics.CHAT_REQUESTS, topics.CHAT_COMPLETED]
    created = await ensure_topics(settings, wanted)
    p = settings.kafka_topic_prefix
    expected = [name for t in wanted for name in (f"{p}{t.name}", f"{p}{t.name}.dlq")]
    assert created == expected
    assert await ensure_topics(settings, wanted) == []  # idempotent

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(expected)}
    finally:
        await admin.close()
    assert {name: len(t["partitions"]) for name, t in described.items()} == dict.fromkeys(expected, 3)
