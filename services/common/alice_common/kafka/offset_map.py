"""Commit metadata: which records after the committed offset are finished already.

`"am1:<offset>:<base64url(zlib(bitmap))>"`, bit i set = offset + i finished. The offset is repeated
so a map is only ever applied to the commit it was written with. Kafka limits commit metadata
(`offset.metadata.max.bytes`, 4096 by default); a map that does not fit is left out, which only
means those records are replayed.
"""

import base64
import zlib
from collections.abc import Iterable

from alice_common.kafka.tracker import CommitPoint

PREFIX = "am1:"
MAX_METADATA_CHARS = 4000
_MAX_BITMAP_BYTES = 1 << 20


def encode(point: CommitPoint) -> str:
    if not point.finished_above:
        return ""
    bitmap = bytearray((max(point.finished_above) - point.offset) // 8 + 1)
    for offset in point.finished_above:
        index = offset - point.offset
        bitmap[index // 8] |= 1 << (index % 8)
    packed = base64.urlsafe_b64encode(zlib.compress(bytes(bitmap))).decode()
    metadata = f"{PREFIX}{point.offset}:{packed}"
    return metadata if len(metadata) <= MAX_METADATA_CHARS else ""


def decode(metadata: str | None, committed_offset: int) -> set[int]:
    """The finished offsets recorded with `committed_offset`; empty for anything else."""
    if not metadata or not metadata.startswith(PREFIX):
        return set()
    try:
        base, packed = metadata[len(PREFIX) :].split(":", 1)
        if int(base) != committed_offset:
            return set()
        inflater = zlib.decompressobj()
        bitmap = inflater.decompress(base64.urlsafe_b64decode(packed), _MAX_BITMAP_BYTES)
    except (ValueError, zlib.error):
        return set()
    return set(_set_bits(bitmap, committed_offset))


def _set_bits(bitmap: bytes, base: int) -> Iterable[int]:
    for byte_index, byte in enumerate(bitmap):
        for bit in range(8):
            if byte >> bit & 1:
                yield base + byte_index * 8 + bit
