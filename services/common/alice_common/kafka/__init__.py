"""Kafka for every Alice service: topics, publishing, and the key-ordered consume loop.

```python
await ensure_topics(settings, [Topics.CHAT_REQUESTS])      # topic + its .dlq, prefixed
await publish(producer, settings, Topics.CHAT_REQUESTS, event, key=conversation_id)
loop = ConsumeLoop(settings, topic=Topics.CHAT_REQUESTS, group="orchestrator",
                   handler=handle, producer=producer)
await loop.start(); ...; await loop.stop()
```
See docs/kafka.md for the semantics.
"""

from alice_common.kafka.consume_loop import ConsumeLoop
from alice_common.kafka.dead_letter import (
    HEADER_ATTEMPTS,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_FAILED_AT,
    HEADER_GROUP,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from alice_common.kafka.produce import enqueue, publish
from alice_common.kafka.topics import ensure_topics
from alice_common.kafka.tracker import WorkTracker

__all__ = [
    "HEADER_ATTEMPTS",
    "HEADER_ERROR",
    "HEADER_ERROR_TYPE",
    "HEADER_FAILED_AT",
    "HEADER_GROUP",
    "HEADER_SOURCE_OFFSET",
    "HEADER_SOURCE_PARTITION",
    "HEADER_SOURCE_TOPIC",
    "ConsumeLoop",
    "WorkTracker",
    "enqueue",
    "ensure_topics",
    "publish",
]
