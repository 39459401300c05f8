"""Prometheus metrics of every consume loop, labelled by (prefixed) topic and consumer group."""

from prometheus_client import Counter, Gauge, Histogram

LABELS = ["topic", "group"]

PROCESSED = Counter("alice_kafka_records_processed_total", "Records whose handler succeeded", LABELS)
FAILED = Counter(
    "alice_kafka_record_failures_total", "Handler attempts that raised (each retry counts)", LABELS
)
UNAVAILABLE = Counter(
    "alice_kafka_records_unavailable_total",
    "Handler attempts that raised Unavailable (a dependency unreachable); also counted in failures",
    LABELS,
)
DEAD_LETTERED = Counter(
    "alice_kafka_records_dead_lettered_total", "Records published to the dead-letter topic", LABELS
)
RUN_ALONE = Counter(
    "alice_kafka_records_run_alone_total",
    "Suspects (in flight when their consumer died) run with nothing else of the process",
    LABELS,
)
IN_FLIGHT = Gauge("alice_kafka_records_in_flight", "Records whose handler is running", LABELS)
HANDLER_DURATION = Histogram(
    "alice_kafka_handler_duration_seconds",
    "Duration of one handler attempt, successful or not",
    LABELS,
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
