"""The routes answer with the admin wire models: what kafkaflow builds validates as them and
serialises back to the same JSON (`from` included), so the backend and the frontend read it as is."""

import json

from aiokafka import ConsumerRecord
from alice_common.admin_wire import DlqRecord, FlowGraph, FlowView, ReplayResult
from alice_kafkaflow.flows import build_flows
from alice_kafkaflow.records import record_json
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
        name: TopicState(name, (PartitionOffsets(0, 1, 5),), messages_per_second=1.0)
        for name in ("x.chat.completed", "x.chat.completed.dlq", "x.chat.requests")
    }
    lag = GroupTopicLag("x.chat.completed", (PartitionLag(0, 5, 2, 3),), messages_per_second=0.5)
    groups = {"x.dataflow": GroupState("x.dataflow", "Stable", 1, (lag,))}
    return Snapshot(taken_at=10.0, brokers=1, topics=topics, groups=groups)


def test_the_flow_graph_is_the_wire_model_and_round_trips_unchanged():
    built = build_flows(_snapshot(), "x.", now=12.0)
    graph = FlowGraph.model_validate(built)
    assert graph.model_dump(mode="json") == built
    kinds = {type(node).__name__ for node in graph.nodes} | {type(edge).__name__ for edge in graph.edges}
    assert kinds == {
        "ServiceNode", "TopicNode", "ConsumerGroupNode", "ProducesEdge", "ConsumesEdge", "DeadLettersEdge",
    }  # fmt: skip
    view = FlowView.model_validate({**built, "last_error": None})
    assert view.model_dump(mode="json")["edges"][0]["from"].startswith(("topic:", "service:"))


def test_a_dead_letter_record_is_the_wire_model():
    record = ConsumerRecord(
        topic="t.dlq", partition=2, offset=7, timestamp=0, timestamp_type=0,
        key=None, value=json.dumps({"x": 1}).encode(), checksum=None, serialized_key_size=0,
        serialized_value_size=8, headers=[("dlq.error", b"ValueError: bad")],
    )  # fmt: skip
    body = record_json(record, replayed=False)
    assert DlqRecord.model_validate(body).model_dump(mode="json") == body


def test_a_single_replay_answers_without_the_skipped_count():
    one = {"replayed": 1, "records": [{"partition": 0, "offset": 3, "target_topic": "chat.requests",
                                       "target_partition": 0, "target_offset": 9}]}  # fmt: skip
    assert ReplayResult.model_validate(one).model_dump(mode="json", exclude_none=True) == one
    every = {"replayed": 0, "skipped_already_replayed": 2, "records": []}
    assert ReplayResult.model_validate(every).model_dump(mode="json", exclude_none=True) == every
