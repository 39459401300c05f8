"""Publishing events: one call, the key, and the broker's acknowledgement awaited."""

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from alice_common.events import Event
from alice_common.settings import AliceSettings
from alice_common.topics import Topic

HEADER_EVENT_TYPE = "alice.event.type"
HEADER_TRACE_ID = "alice.trace_id"


async def publish(
    producer: AIOKafkaProducer,
    settings: AliceSettings,
    topic: Topic | str,
    event: Event,
    key: str | bytes | None = None,
) -> RecordMetadata:
    """Send `event` as JSON to `settings.topic(topic)`; returns once acknowledged.

    To a registry topic (`alice_common.topics`) the event must be of its `event_type`, and the key
    is its `key` field: never passed. To a bare name (a test's own topic) the key is required.

    The producer from `alice_common.clients.kafka_producer` is idempotent with acks=all, so the
    acknowledgement means every in-sync replica has the record and a retry never duplicates it.
    """
    return await (await enqueue(producer, settings, topic, event, key))


async def enqueue(
    producer: AIOKafkaProducer,
    settings: AliceSettings,
    topic: Topic | str,
    event: Event,
    key: str | bytes | None = None,
) -> "asyncio.Future[RecordMetadata]":
    """The first half of `publish`: returns once the producer has queued the record, with the
    future of its acknowledgement. Interrupted before it returns (a timeout, an error), the record
    was not queued; once it has returned, the record may reach the broker whatever the caller does
    next, even if the future is never awaited (aiokafka appends it without yielding in between)."""
    name, key = _name_and_key(topic, event, key)
    event_type = getattr(event, "type", type(event).__name__)
    return await producer.send(
        settings.topic(name),
        value=event.to_bytes(),
        key=key.encode() if isinstance(key, str) else key,
        headers=[(HEADER_EVENT_TYPE, event_type.encode()), (HEADER_TRACE_ID, event.trace_id.encode())],
    )


def _name_and_key(topic: Topic | str, event: Event, key: str | bytes | None) -> tuple[str, str | bytes]:
    if isinstance(topic, Topic):
        if not isinstance(event, topic.event_type):
            raise TypeError(f"{topic.name} carries {topic.event_type.__name__}, not {type(event).__name__}")
        if key is not None:
            raise TypeError(f"the key of {topic.name} is the event's {topic.key!r} (alice_common.topics)")
        return topic.name, topic.key_of(event)
    if key is None:
        raise TypeError(f"publishing to {topic!r}, a topic outside alice_common.topics, needs a key")
    return topic, key
