"""Cooperative hand-over of partitions on top of Kafka's eager rebalance protocol.

aiokafka only speaks the eager protocol: at every rebalance each member gives up all its
partitions. Draining everything at that point restarted every in-flight chat reply whenever a
replica joined or left. Instead, as the cooperative protocol (KIP-429) does, a partition moves
in two steps, decided by this assignor on the group leader:

1. Each member tells, in its join metadata, which partitions it holds (`owned`, for stickiness)
   and which it must not lose yet (`claimed`: work in flight or finished but not committed).
2. A claimed partition is never given to another member. Within the claimer's fair share it
   stays with it (its work goes on untouched); beyond it, it is assigned to the claimer once
   more, flagged `release`: the claimer drains it, commits it and asks for another rebalance,
   in which the partition, now unclaimed, goes to whoever has room.
3. Unclaimed partitions are balanced, keeping each with its previous owner where possible.

So a partition is only ever consumed by one member at a time, and one that stays does not
notice the rebalance.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.structs import TopicPartition

PROTOCOL_NAME = "alice-handover"
VERSION = 1


@dataclass(frozen=True)
class Holdings:
    """What one member holds when it joins."""

    owned: frozenset[TopicPartition] = frozenset()
    claimed: frozenset[TopicPartition] = frozenset()


@dataclass
class Plan:
    """One member's share: partitions to consume, and those to drain and give back."""

    keep: list[TopicPartition] = field(default_factory=list)
    release: list[TopicPartition] = field(default_factory=list)


def plan_assignment(partitions: Iterable[TopicPartition], members: Mapping[str, Holdings]) -> dict[str, Plan]:
    """Balanced, sticky, and never moving a claimed partition (see the module docstring)."""
    every = sorted(set(partitions))
    present = set(every)
    if not members:
        return {}
    # Members holding more come first: they get the larger shares, so less has to move.
    order = sorted(
        members,
        key=lambda m: (-len(members[m].claimed & present), -len(members[m].owned & present), m),
    )
    base, extra = divmod(len(every), len(order))
    quota = {m: base + (1 if i < extra else 0) for i, m in enumerate(order)}
    plans = {m: Plan() for m in order}
    taken: set[TopicPartition] = set()

    for member in order:  # a partition claimed twice (a member fenced and back) goes to the first
        for tp in sorted(members[member].claimed & present - taken):
            share = plans[member].keep if len(plans[member].keep) < quota[member] else plans[member].release
            share.append(tp)
            taken.add(tp)
    for member in order:
        for tp in sorted(members[member].owned & present - taken):
            if len(plans[member].keep) < quota[member]:
                plans[member].keep.append(tp)
                taken.add(tp)
    for tp in every:
        if tp in taken:
            continue
        # Room is always left: the quotas add up to every partition, and released ones fill none.
        member = max(order, key=lambda m: quota[m] - len(plans[m].keep))
        plans[member].keep.append(tp)
    return plans


def _encode_partitions(partitions: Iterable[TopicPartition]) -> dict[str, list[int]]:
    by_topic: dict[str, list[int]] = {}
    for tp in sorted(partitions):
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return by_topic


def _decode_partitions(by_topic: object) -> frozenset[TopicPartition]:
    if not isinstance(by_topic, dict):
        return frozenset()
    return frozenset(
        TopicPartition(topic, p)
        for topic, numbers in by_topic.items()
        if isinstance(topic, str) and isinstance(numbers, list)
        for p in numbers
        if isinstance(p, int)
    )


def _decode_json(data: bytes) -> dict[str, object]:
    try:
        decoded = json.loads(data or b"{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


class HandoverAssignor:
    """aiokafka `partition_assignment_strategy` entry for one consume loop.

    aiokafka calls `name`, `metadata`, `assign` (on the leader) and `on_assignment` on whatever
    it is given; an instance (not the usual class) carries this member's holdings.
    """

    name = PROTOCOL_NAME
    version = VERSION

    def __init__(self, holdings: Callable[[], Holdings]) -> None:
        self._holdings = holdings
        self.release: frozenset[TopicPartition] = frozenset()  # from the latest assignment

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        held = self._holdings()
        user_data = json.dumps(
            {"owned": _encode_partitions(held.owned), "claimed": _encode_partitions(held.claimed)}
        ).encode()
        return ConsumerProtocolMemberMetadata(self.version, sorted(topics), user_data)

    def assign(
        self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({t for m in members.values() for t in m.subscription})
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in (cluster.partitions_for_topic(topic) or ())
        ]
        holdings = {}
        for member_id, meta in members.items():
            data = _decode_json(meta.user_data)
            holdings[member_id] = Holdings(
                _decode_partitions(data.get("owned")), _decode_partitions(data.get("claimed"))
            )
        plans = plan_assignment(partitions, holdings)
        return {
            member_id: ConsumerProtocolMemberAssignment(
                self.version,
                sorted(_encode_partitions(plan.keep + plan.release).items()),
                json.dumps({"release": _encode_partitions(plan.release)}).encode(),
            )
            for member_id, plan in plans.items()
        }

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        self.release = _decode_partitions(_decode_json(assignment.user_data).get("release"))
