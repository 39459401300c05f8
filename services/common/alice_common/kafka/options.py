"""How a consume loop is tuned: one immutable object, as Confluent's Parallel Consumer takes one
`ParallelConsumerOptions`. What each field does is in `ConsumeLoop`'s docstring and docs/kafka.md."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ConsumeOptions:
    max_concurrency: int = 8
    max_attempts: int = 7
    retry_backoff_s: float = 0.5
    retry_max_backoff_s: float = 15.0
    # How long a record may keep failing with `Unavailable` (free retries) before it is dead-lettered.
    unavailable_give_up_s: float = 120.0
    max_solo_crashes: int = 3
    drain_timeout_s: float = 10.0
    revoke_timeout_s: float = 5.0
    max_buffered_per_partition: int = 1000
    commit_interval_s: float = 0.5
    # Passed to AIOKafkaConsumer over the loop's own settings (e.g. session_timeout_ms).
    consumer_config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.unavailable_give_up_s < 0:
            raise ValueError("unavailable_give_up_s must be ≥ 0")
        if (
            min(
                self.max_concurrency,
                self.max_attempts,
                self.max_buffered_per_partition,
                self.max_solo_crashes,
            )
            < 1
        ):
            raise ValueError(
                "max_concurrency, max_attempts, max_buffered_per_partition and max_solo_crashes must be ≥ 1"
            )
