"""What a document set aside for crashing the indexer becomes (fakes for the store and Kafka)."""

from aiokafka.structs import ConsumerRecord
from alice_common import topics
from alice_common.events import DocumentUploaded
from alice_common.kafka.failures import DeliveryLimitExceeded
from alice_dataflow.ingest import Ingestor
from alice_dataflow.settings import Settings

EVENT = DocumentUploaded(
    document_id="doc1", user_id="u1", filename="a.txt", content_type="text/plain", size=10, blob_id="b1"
)


class FakeStore:
    def __init__(self, status: str) -> None:
        self.doc = {"_id": "doc1", "user_id": "u1", "status": status}
        self.failed: list[str] = []

    async def get_any(self, document_id):
        return self.doc

    async def fail(self, document_id, reason, permanent):
        self.failed.append(reason)
        self.doc["status"] = "failed"
        return True


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple] = []

    async def send_and_wait(self, topic, value, key=None, headers=None):
        self.sent.append((topic, value, key, headers))


def record() -> ConsumerRecord:
    return ConsumerRecord(
        topic=f"p.{topics.DOCUMENTS_UPLOADED.name}", partition=0, offset=7, timestamp=0, timestamp_type=0,
        key=b"doc1", value=EVENT.to_bytes(), checksum=None, serialized_key_size=4,
        serialized_value_size=10, headers=(("alice.trace_id", b"t1"),),
    )  # fmt: skip


def ingestor(status: str) -> tuple[Ingestor, FakeStore, FakeProducer]:
    store, producer = FakeStore(status), FakeProducer()
    settings = Settings(alice_internal_token="unit-token-long-enough-to-be-a-secret", kafka_topic_prefix="p.")
    return Ingestor(settings, store, None, None, None, producer), store, producer


async def test_a_queued_document_that_crashed_the_indexer_alone_is_set_aside_not_put_back():
    # Crash attribution dead-letters only a record that crashed its process while running alone,
    # whatever its status says; putting it back would crash-loop the dataflow for ever.
    ing, store, producer = ingestor("queued")
    await ing.on_dead_letter(
        record(), DeliveryLimitExceeded("crashed its consumer 3 times while running alone")
    )
    assert store.failed == ["processing this document crashed the indexer repeatedly; it was set aside"]
    assert [topic for topic, *_ in producer.sent] == [f"p.{topics.DOCUMENTS_INDEXED.name}"]  # not put back


async def test_a_document_that_was_being_processed_when_it_crashed_is_set_aside():
    ing, store, producer = ingestor("processing")
    await ing.on_dead_letter(record(), DeliveryLimitExceeded("delivered 3 times without finishing"))
    assert store.failed == ["processing this document crashed the indexer repeatedly; it was set aside"]
    assert [topic for topic, *_ in producer.sent] == [f"p.{topics.DOCUMENTS_INDEXED.name}"]


async def test_a_queued_document_that_failed_for_another_reason_is_failed():
    ing, store, _ = ingestor("queued")
    await ing.on_dead_letter(record(), RuntimeError("MongoDB down"))
    assert store.failed and "MongoDB down" in store.failed[0]
