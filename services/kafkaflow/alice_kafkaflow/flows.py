"""The pipeline as a graph: services produce to topics, consumer groups consume them.

Consumer groups and their topics come from Kafka. Producers cannot be discovered from the broker,
so the services that write each topic come from the topic registry (`alice_common.topics`).
Names are shown without `KAFKA_TOPIC_PREFIX`; the full Kafka name is kept beside them.
"""

import time

from alice_common import topics
from alice_common.topics import DLQ_SUFFIX

from alice_kafkaflow.snapshot import Snapshot

PRODUCERS: dict[str, tuple[str, ...]] = topics.producers()


def strip_prefix(name: str, prefix: str) -> str:
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def build_flows(
    snapshot: Snapshot, prefix: str, now: float | None = None, hidden: frozenset[str] = frozenset()
) -> dict:
    """`hidden`: full names of topics and groups left out of the graph (kafkaflow's bookkeeping)."""
    now = time.time() if now is None else now
    nodes: list[dict] = []
    edges: list[dict] = []
    for full, topic in snapshot.topics.items():
        if full in hidden:
            continue
        nodes.append(
            {
                "id": f"topic:{strip_prefix(full, prefix)}",
                "kind": "topic",
                "name": strip_prefix(full, prefix),
                "kafka_name": full,
                "dlq": full.endswith(DLQ_SUFFIX),
                "partitions": len(topic.partitions),
                "end_offset": topic.end_offset_sum,
                "records": topic.record_count,
                "messages_per_second": round(topic.messages_per_second, 3),
                "partition_offsets": [
                    {"partition": p.partition, "oldest_offset": p.oldest_offset, "end_offset": p.end_offset}
                    for p in topic.partitions
                ],
            }
        )
        source = full.removesuffix(DLQ_SUFFIX)
        if full.endswith(DLQ_SUFFIX) and source in snapshot.topics:
            edges.append(
                {
                    "from": f"topic:{strip_prefix(source, prefix)}",
                    "to": f"topic:{strip_prefix(full, prefix)}",
                    "kind": "dead_letters",
                }
            )
    for full, group in snapshot.groups.items():
        if full in hidden:
            continue
        group_id = f"group:{strip_prefix(full, prefix)}"
        nodes.append(
            {
                "id": group_id,
                "kind": "consumer_group",
                "name": strip_prefix(full, prefix),
                "kafka_name": full,
                "state": group.state,
                "members": group.members,
                "lag": group.lag,
                "messages_per_second": round(sum(t.messages_per_second for t in group.topics), 3),
            }
        )
        for t in group.topics:
            edges.append(
                {
                    "from": f"topic:{strip_prefix(t.topic, prefix)}",
                    "to": group_id,
                    "kind": "consumes",
                    "lag": t.lag,
                    "messages_per_second": round(t.messages_per_second, 3),
                    "partitions": [
                        {
                            "partition": p.partition,
                            "end_offset": p.end_offset,
                            "committed_offset": p.committed_offset,
                            "lag": p.lag,
                        }
                        for p in t.partitions
                    ],
                }
            )
    for service, produced in PRODUCERS.items():
        present = [name for name in produced if f"{prefix}{name}" in snapshot.topics]
        if not present:
            continue
        nodes.append({"id": f"service:{service}", "kind": "service", "name": service})
        edges.extend(
            {"from": f"service:{service}", "to": f"topic:{name}", "kind": "produces"} for name in present
        )
    return {
        "prefix": prefix,
        "taken_at": snapshot.taken_at,
        "age_s": round(max(now - snapshot.taken_at, 0.0), 3),
        "brokers": snapshot.brokers,
        "nodes": nodes,
        "edges": edges,
    }
