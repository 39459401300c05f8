"""Kafkaflow's start failing after its producer started still stops the producer at shutdown
(alice_common.lifecycle)."""

import alice_kafkaflow.main as kafkaflow_main
from alice_kafkaflow.main import create_app
from alice_kafkaflow.settings import Settings

from tests.support.lifespan import assert_start_fails, failing, record_the_producer


async def test_a_start_failing_after_the_producer_started_still_stops_it(monkeypatch):
    stopped: list[str] = []
    record_the_producer(monkeypatch, stopped)
    monkeypatch.setattr(kafkaflow_main, "KafkaPoller", failing("the poller cannot be built"))
    await assert_start_fails(create_app(Settings()), "the poller cannot be built")
    assert stopped == ["producer"]
