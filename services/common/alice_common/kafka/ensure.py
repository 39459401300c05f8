"""Create topics (and their dead-letter siblings) before producing to or consuming from them.

Which topics exist is declared in `alice_common.topics`; this module only creates them."""

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from alice_common.settings import AliceSettings
from alice_common.topics import Topic, dlq_name

log = logging.getLogger(__name__)

# CreateTopics answers per topic; "already exists" (another replica won the race) is success.
_TOPIC_ALREADY_EXISTS = TopicAlreadyExistsError.errno


async def ensure_topics(
    settings: AliceSettings,
    topics: Iterable[Topic | str],
    partitions: int | None = None,
    replication: int | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create each `settings.topic(name)` and its `.dlq` if missing; returns the names created.

    `topics`: registry topics (`alice_common.topics`), or bare names for topics outside it (tests).

    Idempotent and safe to race with other replicas. Returns once every topic has a leader for
    each partition, so a consumer subscribing right after sees all partitions.
    """
    wanted = []
    for name in (t.name if isinstance(t, Topic) else t for t in topics):
        for topic in (settings.topic(name), settings.topic(dlq_name(name))):
            if topic not in wanted:
                wanted.append(topic)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id=f"{settings.service_name}-admin"
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name=t,
                        num_partitions=partitions or settings.kafka_topic_partitions,
                        replication_factor=replication or settings.kafka_replication_factor,
                    )
                    for t in missing
                ],
                timeout_ms=int(timeout_s * 1000),
            )
            for topic, code, *_ in response.topic_errors:
                if code not in (0, _TOPIC_ALREADY_EXISTS):
                    raise RuntimeError(f"cannot create Kafka topic {topic!r}: error code {code}")
            log.info("created Kafka topics %s", missing)
        await _wait_for_leaders(admin, wanted, timeout_s)
        return missing
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        described = await admin.describe_topics(topics)
        ready = {
            t["topic"]
            for t in described
            if t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
        }
        if ready >= set(topics):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"Kafka topics without leaders: {sorted(set(topics) - ready)}")
        await asyncio.sleep(0.1)
