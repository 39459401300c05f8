"""Publishing events: one call, the key, and the broker's acknowledgement awaited."""

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from alice_common.events import Event
from alice_common.settings import AliceSettings

HEADER_EVENT_TYPE = "alice.event.type"
HEADER_TRACE_ID = "alice.trace_id"


async def publish(
    producer: AIOKafkaProducer, settings: AliceSettings, topic: str, event: Event, key: str | bytes
) -> RecordMetadata:
    """Send `event` as JSON to `settings.topic(topic)` with `key`; returns once acknowledged.

    The producer from `alice_common.clients.kafka_producer` is idempotent with acks=all, so the
    acknowledgement means every in-sync replica has the record and a retry never duplicates it.
    """
    return await (await enqueue(producer, settings, topic, event, key))


async def enqueue(
    producer: AIOKafkaProducer, settings: AliceSettings, topic: str, event: Event, key: str | bytes
) -> "asyncio.Future[RecordMetadata]":
    """The first half of `publish`: returns once the producer has queued the record, with the
    future of its acknowledgement. Interrupted before it returns (a timeout, an error), the record
    was not queued; once it has returned, the record may reach the broker whatever the caller does
    next, even if the future is never awaited (aiokafka appends it without yielding in between)."""
    event_type = getattr(event, "type", type(event).__name__)
    return await producer.send(
        settings.topic(topic),
        value=event.to_bytes(),
        key=key.encode() if isinstance(key, str) else key,
        headers=[(HEADER_EVENT_TYPE, event_type.encode()), (HEADER_TRACE_ID, event.trace_id.encode())],
    )
