"""MongoDB helpers: the duplicate-key error as a domain error services can map to 409 Conflict, and
an upsert by `_id` that every Mongo-protocol server stores under that `_id`."""

import contextlib
from collections.abc import Iterator
from typing import Any

from pymongo.errors import DuplicateKeyError


class DuplicateError(Exception):
    """A document with the same value of a unique key exists already."""

    def __init__(self, collection: str, key: dict[str, Any] | None = None) -> None:
        self.collection = collection
        self.key = key or {}
        detail = f" {self.key}" if self.key else ""
        super().__init__(f"duplicate key in {collection}{detail}")


@contextlib.contextmanager
def duplicates_as_domain_error(collection_name: str) -> Iterator[None]:
    """Turn pymongo's DuplicateKeyError (code 11000, MongoDB and FerretDB alike) into DuplicateError."""
    try:
        yield
    except DuplicateKeyError as exc:
        details = exc.details or {}
        raise DuplicateError(collection_name, details.get("keyValue")) from exc


async def insert_unique(collection, document: dict[str, Any]) -> None:
    """Insert one document; DuplicateError when a unique index (or `_id`) already holds its value."""
    with duplicates_as_domain_error(collection.name):
        await collection.insert_one(document)


async def replace_by_id(collection, _id: Any, fields: dict[str, Any]) -> None:
    """Replace the document `_id` with `fields`, inserting it when missing. `_id` is repeated in
    the replacement: FerretDB 1.18 does not take it from the filter and would store a new one."""
    await collection.replace_one({"_id": _id}, {"_id": _id, **fields}, upsert=True)
