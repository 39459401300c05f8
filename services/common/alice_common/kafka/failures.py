"""How the consume loop treats a failing record.

- `PermanentError` (and its subclasses: an undecodable event, a request that is invalid or not
  the sender's, a corrupt document): retrying cannot help, so the record goes to `<topic>.dlq` at
  once.
- `Unavailable`: a dependency this replica needs (its model endpoint) cannot be reached; the
  record is not at fault. Retried with the same backoff without spending an attempt, until it
  has been unavailable for `unavailable_give_up_s`: a replica that cannot do the work holds it
  (uncommitted) until it recovers or is stopped, when another replica takes the record over.
- Anything else is presumed transient (a MongoDB election, a Redis or Kafka restart) and retried
  with exponential backoff and jitter (`backoff_s`), long enough to ride out a restart.
- A record whose consumer dies while handling it (out of memory, killed) runs no `except`
  clause at all; a `DeliveryCounter` counts its deliveries outside the process. A record that was
  in flight in a crash is only a suspect: it runs alone, and the loop dead-letters it once it has
  crashed the process while alone `max_solo_crashes` times (`kafka/isolation.py`).
"""

import random
from typing import Protocol

from aiokafka.structs import ConsumerRecord

from alice_common.kafka.isolation import Deliveries


class PermanentError(Exception):
    """The record can never be handled; retrying is pointless."""


class Unavailable(Exception):
    """A dependency this replica needs cannot be reached; the record is not at fault.

    Retried without spending one of `max_attempts`, until `unavailable_give_up_s` has passed
    since the record's first `Unavailable` failure (docs/kafka.md, "Failure policy")."""


class UndecodableEvent(PermanentError):
    """The record is not a valid event of the type its topic carries."""


class DeliveryLimitExceeded(PermanentError):
    """The record crashed its consumer, running alone, too many times: it kills its consumer."""


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Pause before retry `attempt + 1`: base · 2^(attempt-1), capped, with "equal jitter" (half
    fixed, half random) so that consumers retrying after the same outage do not retry in step."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class DeliveryCounter(Protocol):
    """Durable per-record counts (`kafka/deliveries.py`); a crash leaves them as they were."""

    async def begin(self, group: str, record: ConsumerRecord) -> Deliveries:
        """Count one more delivery of `record` to `group`; returns the counts with it."""
        ...

    async def begin_solo(self, group: str, record: ConsumerRecord) -> None:
        """Count one attempt of `record` running alone, before it runs."""
        ...

    async def end(self, group: str, record: ConsumerRecord) -> None:
        """The record is finished (handled or dead-lettered): forget its counts."""
        ...

    async def give_back(self, group: str, record: ConsumerRecord, solo: bool) -> None:
        """The delivery was cancelled (stop, revoke): take it (and its solo attempt) off again."""
        ...
