"""Headers of a dead-lettered record (pure logic)."""

from aiokafka.structs import ConsumerRecord
from alice_common import topics
from alice_common.kafka import dead_letter as dl

SOURCE = f"p.{topics.CHAT_REQUESTS.name}"


def record(headers=()) -> ConsumerRecord:
    return ConsumerRecord(
        topic=SOURCE, partition=4, offset=1234, timestamp=0, timestamp_type=0,
        key=b"conv-1", value=b"{}", checksum=None, serialized_key_size=6, serialized_value_size=2,
        headers=tuple(headers),
    )  # fmt: skip


def test_headers_say_what_failed_where_and_how_often():
    headers = dict(dl.dead_letter_headers(record(), "p.orchestrator", ValueError("bad content"), 3))
    assert headers[dl.HEADER_ERROR] == b"ValueError: bad content"
    assert headers[dl.HEADER_ERROR_TYPE] == b"ValueError"
    assert headers[dl.HEADER_SOURCE_TOPIC] == SOURCE.encode()
    assert headers[dl.HEADER_SOURCE_PARTITION] == b"4"
    assert headers[dl.HEADER_SOURCE_OFFSET] == b"1234"
    assert headers[dl.HEADER_GROUP] == b"p.orchestrator"
    assert headers[dl.HEADER_ATTEMPTS] == b"3"
    assert headers[dl.HEADER_FAILED_AT].startswith(b"20")


def test_the_producers_headers_are_kept_and_an_earlier_dead_lettering_replaced():
    earlier = [("alice.trace_id", b"t1"), (dl.HEADER_ERROR, b"old"), (dl.HEADER_ATTEMPTS, b"9")]
    headers = dl.dead_letter_headers(record(earlier), "g", RuntimeError("new"), 2)
    names = [name for name, _ in headers]
    assert ("alice.trace_id", b"t1") in headers
    assert names.count(dl.HEADER_ERROR) == 1 and dict(headers)[dl.HEADER_ERROR] == b"RuntimeError: new"
    assert dict(headers)[dl.HEADER_ATTEMPTS] == b"2"
    assert all(name.startswith(dl.HEADER_PREFIX) for name in names if name != "alice.trace_id")


def test_long_errors_are_cut():
    headers = dict(dl.dead_letter_headers(record(), "g", RuntimeError("x" * 10_000), 1))
    assert len(headers[dl.HEADER_ERROR]) == dl.MAX_ERROR_CHARS
