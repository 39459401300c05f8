"""How the consume loop treats a failing record.

- `PermanentError` (and its subclasses: an undecodable event, a request that is invalid or not
  the sender's, a corrupt document): retrying cannot help, so the record goes to `<topic>.dlq` at
  once.
- Anything else is presumed transient (a MongoDB election, a Redis or Kafka restart) and retried
  with exponential backoff and jitter (`backoff_s`), long enough to ride out a restart.
- A record whose consumer dies while handling it (out of memory, killed) runs no `except`
  clause at all; a `DeliveryCounter` counts its deliveries outside the process, and the loop
  dead-letters it once it has been delivered `max_deliveries` times without finishing.
"""

import random
from typing import Protocol

from aiokafka.structs import ConsumerRecord


class PermanentError(Exception):
    """The record can never be handled; retrying is pointless."""


class UndecodableEvent(PermanentError):
    """The record is not a valid event of the type its topic carries."""


class DeliveryLimitExceeded(PermanentError):
    """The record was delivered too many times without finishing: it kills its consumer."""


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Pause before retry `attempt + 1`: base · 2^(attempt-1), capped, with "equal jitter" (half
    fixed, half random) so that consumers retrying after the same outage do not retry in step."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class DeliveryCounter(Protocol):
    async def begin(self, group: str, record: ConsumerRecord) -> int:
        """Count one more delivery of `record` to `group` durably; returns the count so far."""
        ...

    async def end(self, group: str, record: ConsumerRecord) -> None:
        """The record is finished (handled or dead-lettered) or given back: forget its count."""
        ...
