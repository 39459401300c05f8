"""Ids are uuid4 hex strings; anything else cannot name a resource, so it is simply not found."""

from alice_common import linear_re

from alice_backend.errors import not_found

_ID = linear_re.compile(r"^[0-9a-f]{32}$")


def check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise not_found(what)
    return value
