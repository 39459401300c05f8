"""Creates the topics the backend publishes to, via the shared helper when it is available."""

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from alice_backend.settings import Settings

log = logging.getLogger(__name__)


async def ensure_published_topics(settings: Settings, topics: list[str]) -> None:
    try:
        from alice_common.kafka import ensure_topics
    except ImportError:
        ensure_topics = None
    if ensure_topics is not None:
        await ensure_topics(settings, topics)
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(settings.topic(t), settings.kafka_topic_partitions, settings.kafka_replication_factor)
            for t in topics
            if settings.topic(t) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
