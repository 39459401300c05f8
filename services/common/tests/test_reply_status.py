"""The `status` event's data: the states the services write are the ones the public model
(and so the OpenAPI and the frontend's types) names, and a position is sent only when there is one."""

from typing import get_args

import pytest
from alice_common import reply_stream
from alice_common.wire import ReplyState, ReplyStatus
from pydantic import ValidationError


def test_the_public_states_are_the_ones_the_services_write():
    assert set(get_args(ReplyState)) == {reply_stream.QUEUED, reply_stream.GENERATING}


def test_a_position_is_sent_only_while_queued_with_one():
    assert ReplyStatus(state="queued").data() == {"state": "queued"}
    assert ReplyStatus(state="queued", position=2).data() == {"state": "queued", "position": 2}
    assert ReplyStatus(state="generating").data() == {"state": "generating"}


def test_positions_count_from_one():
    with pytest.raises(ValidationError):
        ReplyStatus(state="queued", position=0)


def test_the_schema_makes_position_an_optional_integer_never_null():
    schema = ReplyStatus.model_json_schema()
    assert schema["required"] == ["state"]
    position = schema["properties"]["position"]
    assert position["type"] == "integer" and position["minimum"] == 1
    assert "default" not in position and "anyOf" not in position
