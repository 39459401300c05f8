"""The cooperative hand-over plan: balanced, sticky, and a claimed partition never moves at once."""

import random

from aiokafka.coordinator.protocol import ConsumerProtocol
from aiokafka.structs import TopicPartition
from alice_common.kafka.handover import HandoverAssignor, Holdings, plan_assignment

T = [TopicPartition("t", p) for p in range(6)]


def shares(plans):
    return {
        m: (sorted(p.partition for p in plan.keep), sorted(p.partition for p in plan.release))
        for m, plan in plans.items()
    }


def test_a_joining_member_gets_idle_partitions_and_busy_ones_stay_with_their_owner():
    first = Holdings(owned=frozenset(T), claimed=frozenset({T[0], T[4]}))
    plans = plan_assignment(T, {"a-first": first, "b-new": Holdings()})
    assert shares(plans) == {"a-first": ([0, 1, 4], []), "b-new": ([2, 3, 5], [])}


def test_busy_partitions_beyond_the_share_are_released_by_their_owner_not_given_away():
    first = Holdings(owned=frozenset(T), claimed=frozenset(T[:5]))
    plans = plan_assignment(T, {"a": first, "b": Holdings()})
    assert shares(plans) == {"a": ([0, 1, 2], [3, 4]), "b": ([5], [])}
    # Once drained, the released ones are free and go to the member with room.
    after = Holdings(owned=frozenset(T[:3]), claimed=frozenset(T[:3]))
    plans = plan_assignment(T, {"a": after, "b": Holdings(owned=frozenset({T[5]}))})
    assert shares(plans) == {"a": ([0, 1, 2], []), "b": ([3, 4, 5], [])}


def test_a_partition_claimed_by_two_members_goes_to_one_only():
    plans = plan_assignment(
        T[:2], {"a": Holdings(claimed=frozenset({T[0]})), "b": Holdings(claimed=frozenset({T[0]}))}
    )
    assigned = [tp for plan in plans.values() for tp in plan.keep + plan.release]
    assert sorted(assigned) == T[:2]


def test_random_holdings_always_give_every_partition_to_exactly_one_member_and_never_move_a_claim():
    rng = random.Random(11)
    for _ in range(500):
        partitions = T[: rng.randint(1, 6)]
        members = {}
        free = list(T)
        rng.shuffle(free)
        for name in "abcd"[: rng.randint(1, 4)]:
            owned = frozenset(free.pop() for _ in range(rng.randint(0, min(2, len(free)))))
            members[name] = Holdings(owned, frozenset(p for p in owned if rng.random() < 0.5))
        plans = plan_assignment(partitions, members)
        given = [tp for plan in plans.values() for tp in plan.keep + plan.release]
        assert sorted(given) == sorted(partitions)
        for name, holdings in members.items():
            for tp in holdings.claimed & set(partitions):
                assert tp in plans[name].keep + plans[name].release
        keeps = [len(plan.keep) + len(plan.release) for plan in plans.values()]
        if not any(plan.release for plan in plans.values()):
            assert max(keeps) - min(keeps) <= 1


def test_the_assignor_carries_holdings_and_releases_through_the_group_protocol():
    class Cluster:
        @staticmethod
        def partitions_for_topic(topic):
            return {0, 1, 2, 3} if topic == "t" else None

    first = HandoverAssignor(lambda: Holdings(owned=frozenset(T[:4]), claimed=frozenset(T[:3])))
    second = HandoverAssignor(lambda: Holdings())
    members = {
        # Encoded and decoded as the broker relays them between members.
        member: ConsumerProtocol.METADATA.decode(ConsumerProtocol.METADATA.encode(assignor.metadata(["t"])))
        for member, assignor in (("a", first), ("b", second))
    }
    assignments = first.assign(Cluster(), members)  # the leader
    for member, assignor in (("a", first), ("b", second)):
        wire = ConsumerProtocol.ASSIGNMENT.encode(assignments[member])
        assignor.on_assignment(ConsumerProtocol.ASSIGNMENT.decode(wire))
    assert sorted(p.partition for p in assignments["a"].partitions()) == [0, 1, 2]
    assert first.release == {T[2]}
    assert sorted(p.partition for p in assignments["b"].partitions()) == [3] and second.release == set()
