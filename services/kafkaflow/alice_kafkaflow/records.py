"""Render Kafka records as JSON for people: text or JSON when the bytes allow, base64 otherwise."""

import base64
import json
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from alice_common.kafka.dead_letter import HEADER_ERROR


def decode_bytes(raw: bytes | None) -> tuple[object, str]:
    """Return (value, encoding) with encoding one of null, json, text, base64."""
    if raw is None:
        return None, "null"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    try:
        return json.loads(text), "json"
    except ValueError:
        return text, "text"


def _header_text(raw: bytes | None) -> str:
    if raw is None:
        return ""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")


def record_json(record: ConsumerRecord, replayed: bool) -> dict:
    key, key_encoding = decode_bytes(record.key)
    value, value_encoding = decode_bytes(record.value)
    headers = [{"key": k, "value": _header_text(v)} for k, v in (record.headers or ())]
    error = next((h["value"] for h in headers if h["key"] == HEADER_ERROR), None)
    return {
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, UTC).isoformat(),
        "key": key if key_encoding != "json" else record.key.decode("utf-8"),
        "key_encoding": "text" if key_encoding == "json" else key_encoding,
        "value": value,
        "value_encoding": value_encoding,
        "headers": headers,
        "error": error,
        "replayed": replayed,
    }
