"""Kafka for every Alice service: topics, publishing, and the key-ordered consume loop.

```python
from alice_common import topics

await ensure_topics(settings, [topics.CHAT_REQUESTS])      # topic + its .dlq, prefixed
await publish(producer, settings, topics.CHAT_REQUESTS, event)  # keyed by the registry
loop = ConsumeLoop(settings, topics.CHAT_REQUESTS, "orchestrator", handle, producer,
                   options=ConsumeOptions(max_concurrency=8))  # handle(event, record)
await loop.start(); ...; await loop.stop()
```
Topics are declared in `alice_common.topics`; see docs/kafka.md for the semantics.
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
from alice_common.kafka.ensure import ensure_topics
from alice_common.kafka.options import ConsumeOptions
from alice_common.kafka.produce import enqueue, publish
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
    "ConsumeOptions",
    "WorkTracker",
    "enqueue",
    "ensure_topics",
    "publish",
]
