"""Decoding a `chat.requests` record, and what is left of one that cannot be decoded."""

import json

from alice_common import linear_re
from alice_common.events import ChatRequested, parse_event
from alice_common.kafka.failures import PermanentError
from pydantic import ValidationError


class InvalidRequest(PermanentError, ValueError):
    """The record can never be handled (bad JSON, wrong event, someone else's conversation)."""


def parse_request(raw: bytes | str | None) -> ChatRequested:
    if raw is None:
        raise InvalidRequest("empty record")
    try:
        event = parse_event(raw)
    except (ValidationError, ValueError) as exc:
        raise InvalidRequest(f"not a valid event: {exc}") from exc
    if not isinstance(event, ChatRequested):
        raise InvalidRequest(f"unexpected event type {event.type!r} on the chat requests topic")
    return event


_ID_FIELD = linear_re.compile(rb'"(reply_id|user_id)"\s*:\s*"([A-Za-z0-9_-]{1,128})"')


def recover_ids(raw: bytes | None) -> dict[str, str]:
    """`reply_id` and `user_id` of a record, even one that is not valid JSON (truncated, say),
    so that the client waiting on its stream still hears that it failed."""
    found: dict[str, str] = {}
    try:
        data = json.loads(raw or b"")
    except (ValueError, TypeError):
        data = None
    if isinstance(data, dict):
        found = {k: data[k] for k in ("reply_id", "user_id") if isinstance(data.get(k), str) and data[k]}
    elif raw:
        for name, value in _ID_FIELD.findall(raw[:100_000]):
            found.setdefault(name.decode(), value.decode())
    return found
