"""Short-lived, per-process memos on the send path: "conversation X belongs to user Y" and
"user Y has memory on/off".

Sending a message must check the conversation exists for the caller; asking the orchestrator on
every send costs a network round trip on the hottest path. Ownership never changes, and deletion
through this replica evicts the entry, so a few seconds of staleness only matter for a conversation
deleted through another replica, which the orchestrator then rejects itself.
"""

import time
from collections import OrderedDict


class TtlCache:
    """A small per-process memo with expiry; this replica updates it when it changes the value."""

    def __init__(self, ttl_s: float = 30.0, max_entries: int = 100_000):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[object, float]] = OrderedDict()

    def get(self, key: str):
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: str, value: object) -> None:
        self._entries[key] = (value, time.monotonic() + self.ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


class OwnershipCache(TtlCache):
    """Resource id → its owner's user id."""

    def owned_by(self, resource_id: str, user_id: str) -> bool:
        return self.get(resource_id) == user_id

    def remember(self, resource_id: str, user_id: str) -> None:
        self.put(resource_id, user_id)
