import json

import pytest
from aiokafka import ConsumerRecord
from alice_kafkaflow.api import ReplayRequest
from alice_kafkaflow.records import decode_bytes, record_json
from pydantic import ValidationError


def test_bytes_decode_as_json_then_text_then_base64():
    assert decode_bytes(b'{"a": 1}') == ({"a": 1}, "json")
    assert decode_bytes("héllo".encode()) == ("héllo", "text")
    assert decode_bytes(b"\xff\x00") == ("/wA=", "base64")
    assert decode_bytes(None) == (None, "null")


def test_record_json_exposes_the_dead_letter_error_and_keeps_keys_as_text():
    record = ConsumerRecord(
        topic="t.dlq", partition=2, offset=7, timestamp=0, timestamp_type=0,
        key=b"123", value=json.dumps({"x": 1}).encode(), checksum=None, serialized_key_size=3,
        serialized_value_size=8, headers=[("dlq.error", b"ValueError: bad"), ("trace", b"\xff")],
    )  # fmt: skip
    body = record_json(record, replayed=True)
    assert body["key"] == "123" and body["key_encoding"] == "text"  # a numeric key stays a string
    assert body["value"] == {"x": 1}
    assert body["error"] == "ValueError: bad"
    assert {"key": "trace", "value": "base64:/w=="} in body["headers"]
    assert body["timestamp"].startswith("1970-01-01T00:00:00")
    assert (body["partition"], body["offset"], body["replayed"]) == (2, 7, True)


@pytest.mark.parametrize(
    "body",
    [{}, {"partition": 0}, {"offset": 3}, {"all": True, "partition": 0, "offset": 1}, {"all": False},
     {"partition": -1, "offset": 0}, {"all": True, "extra": 1}],
)  # fmt: skip
def test_replay_request_is_one_record_or_all(body):
    with pytest.raises(ValidationError):
        ReplayRequest.model_validate(body)


def test_replay_request_accepts_one_record_or_all():
    assert ReplayRequest.model_validate({"partition": 0, "offset": 0}).all is False
    assert ReplayRequest.model_validate({"all": True}).partition is None
