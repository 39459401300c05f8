from alice_kafkaflow.flows import build_flows
from alice_kafkaflow.snapshot import (
    GroupState,
    GroupTopicLag,
    PartitionLag,
    PartitionOffsets,
    Snapshot,
    TopicState,
)


def _snapshot() -> Snapshot:
    topics = {
        name: TopicState(name, (PartitionOffsets(0, 0, 5),), messages_per_second=1.0)
        for name in ("x.chat.completed", "x.chat.completed.dlq", "x.chat.requests", "x.conversations.deleted")
    }
    lag = GroupTopicLag("x.chat.completed", (PartitionLag(0, 5, 2, 3),), messages_per_second=0.5)
    groups = {"x.dataflow": GroupState("x.dataflow", "Stable", 1, (lag,))}
    return Snapshot(taken_at=10.0, brokers=1, topics=topics, groups=groups)


def test_graph_strips_the_prefix_and_links_producers_topics_groups_and_dlqs():
    body = build_flows(_snapshot(), "x.", now=12.0)
    nodes = {n["id"]: n for n in body["nodes"]}
    edges = {(e["from"], e["to"], e["kind"]) for e in body["edges"]}
    assert nodes["topic:chat.completed"]["kafka_name"] == "x.chat.completed"
    assert nodes["group:dataflow"]["lag"] == 3
    assert nodes["topic:chat.completed.dlq"]["dlq"] is True
    assert ("topic:chat.completed", "group:dataflow", "consumes") in edges
    assert ("service:orchestrator", "topic:chat.completed", "produces") in edges
    assert ("service:backend", "topic:chat.requests", "produces") in edges
    assert ("service:orchestrator", "topic:conversations.deleted", "produces") in edges
    assert ("topic:chat.completed", "topic:chat.completed.dlq", "dead_letters") in edges
    # no producer edge towards topics that do not exist
    assert "service:dataflow" not in nodes
    assert body["age_s"] == 2.0
    consumes = next(e for e in body["edges"] if e["kind"] == "consumes")
    assert consumes["partitions"] == [{"partition": 0, "end_offset": 5, "committed_offset": 2, "lag": 3}]


def test_hidden_bookkeeping_topics_and_groups_stay_out_of_the_graph():
    snapshot = _snapshot()
    body = build_flows(snapshot, "x.", hidden=frozenset({"x.chat.completed.dlq", "x.dataflow"}))
    ids = {n["id"] for n in body["nodes"]}
    assert "topic:chat.completed.dlq" not in ids and "group:dataflow" not in ids
    assert not any(e["kind"] in ("consumes", "dead_letters") for e in body["edges"])
