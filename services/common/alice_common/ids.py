"""Ids. Every conversation, message, reply, document and user is named by `new_id()`: a uuid4 as
32 lower-case hex digits (`Id`). The public API accepts nothing else: any other string cannot
name a resource, so it is simply not found (`check_id`), without asking a store.

The internal APIs and the Weaviate tenants accept the wider `InternalId` (letters, digits, `_`,
`-`; at most 64): what the services' own tests and tools name things with, and still safe in a
URL path, a MongoDB query and a tenant name.
"""

import uuid
from typing import Annotated

from pydantic import StringConstraints

from alice_common import linear_re
from alice_common.errors import ApiError

ID_PATTERN = r"^[0-9a-f]{32}$"
INTERNAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID = linear_re.compile(ID_PATTERN)
_INTERNAL_ID = linear_re.compile(INTERNAL_ID_PATTERN)

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
InternalId = Annotated[str, StringConstraints(pattern=INTERNAL_ID_PATTERN)]


def new_id() -> str:
    return uuid.uuid4().hex


def is_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


def is_internal_id(value: str) -> bool:
    return bool(_INTERNAL_ID.fullmatch(value))


def check_id(value: str, what: str) -> str:
    """`value` if it can be an id; otherwise 404 (`not_found`, "{what} not found")."""
    if not is_id(value):
        raise ApiError(404, "not_found", f"{what} not found")
    return value
