"""Per-user storage quotas, read from the backend's own GridFS `uploads` bucket: one file per
document, tagged with its owner, so the usage needs no call to another service."""

from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

FILES = "uploads.files"


@dataclass(frozen=True)
class Usage:
    documents: int
    bytes: int


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[FILES].create_index([("metadata.user_id", ASCENDING)])


async def usage(db: AsyncDatabase, user_id: str) -> Usage:
    # Summed here, not with `$group`/`$sum`: FerretDB answered 0 bytes for `{"$sum": "$length"}`.
    # At most the document quota's worth of small records (id and length) per call.
    cursor = db[FILES].find({"metadata.user_id": user_id}, {"length": 1})
    lengths = [int(f.get("length") or 0) async for f in cursor]
    return Usage(len(lengths), sum(lengths))
