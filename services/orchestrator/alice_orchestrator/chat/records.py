"""A `chat.requests` record that cannot be handled, and what is left of one that cannot be decoded.

The consume loop decodes each record as the topic's `ChatRequested` (`alice_common.topics`) and
raises `InvalidRequest` for one that is not (`decode_error` in `main.py`), so a poison record is
dead-lettered at once under that name, as one the handler refuses."""

import json

from alice_common import linear_re
from alice_common.kafka.failures import PermanentError


class InvalidRequest(PermanentError, ValueError):
    """The record can never be handled (bad JSON, wrong event, someone else's conversation)."""


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
