"""The dead-letter record: the failed record's key and value, with why and where it failed."""

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from alice_common.topics import dlq_name

# One prefix for all of them, so a replay (kafkaflow) can strip them in one go.
HEADER_PREFIX = "dlq."
HEADER_ERROR = "dlq.error"  # "ExceptionType: message", at most 2,000 characters
HEADER_ERROR_TYPE = "dlq.error_type"
HEADER_SOURCE_TOPIC = "dlq.source_topic"
HEADER_SOURCE_PARTITION = "dlq.source_partition"
HEADER_SOURCE_OFFSET = "dlq.source_offset"
HEADER_GROUP = "dlq.group"
HEADER_ATTEMPTS = "dlq.attempts"
HEADER_FAILED_AT = "dlq.failed_at"  # ISO 8601, UTC

MAX_ERROR_CHARS = 2000


def dead_letter_headers(
    record: ConsumerRecord, group: str, exc: BaseException, attempts: int
) -> list[tuple[str, bytes]]:
    """The record's own headers (minus those of an earlier dead-lettering) plus ours."""
    kept = [(k, v) for k, v in (record.headers or ()) if not k.startswith(HEADER_PREFIX)]
    error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
    ours = {
        HEADER_ERROR: error,
        HEADER_ERROR_TYPE: type(exc).__name__,
        HEADER_SOURCE_TOPIC: record.topic,
        HEADER_SOURCE_PARTITION: str(record.partition),
        HEADER_SOURCE_OFFSET: str(record.offset),
        HEADER_GROUP: group,
        HEADER_ATTEMPTS: str(attempts),
        HEADER_FAILED_AT: datetime.now(UTC).isoformat(),
    }
    return kept + [(k, v.encode()) for k, v in ours.items()]


async def publish_dead_letter(
    producer: AIOKafkaProducer, record: ConsumerRecord, group: str, exc: BaseException, attempts: int
) -> None:
    """Send to `<source topic>.dlq` with the same key and value; returns once acknowledged."""
    await producer.send_and_wait(
        dlq_name(record.topic),
        key=record.key,
        value=record.value,
        headers=dead_letter_headers(record, group, exc, attempts),
    )
