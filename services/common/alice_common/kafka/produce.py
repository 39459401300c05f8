"""Publishing events: one call, the key, and the broker's acknowledgement awaited."""

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
    event_type = getattr(event, "type", type(event).__name__)
    return await producer.send_and_wait(
        settings.topic(topic),
        value=event.to_bytes(),
        key=key.encode() if isinstance(key, str) else key,
        headers=[(HEADER_EVENT_TYPE, event_type.encode()), (HEADER_TRACE_ID, event.trace_id.encode())],
    )
