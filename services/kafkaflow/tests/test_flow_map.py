"""The flow map's producers are the topic registry's (alice_common.topics): a topic added there is
drawn with the services that write it, with no second list to forget."""

from alice_common import topics
from alice_kafkaflow.flows import build_flows
from alice_kafkaflow.snapshot import PartitionOffsets, Snapshot, TopicState


def test_every_declared_producer_is_drawn_towards_its_topic():
    names = [f"x.{t.name}" for t in topics.ALL]
    snapshot = Snapshot(
        taken_at=1.0,
        brokers=1,
        topics={n: TopicState(n, (PartitionOffsets(0, 0, 1),), messages_per_second=0.0) for n in names},
        groups={},
    )
    body = build_flows(snapshot, "x.", now=1.0)
    produces = {(e["from"], e["to"]) for e in body["edges"] if e["kind"] == "produces"}
    assert produces == {(f"service:{s}", f"topic:{t.name}") for t in topics.ALL for s in t.producers}
