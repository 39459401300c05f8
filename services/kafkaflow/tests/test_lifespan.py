"""Kafkaflow's start failing after its producer started still stops the producer at shutdown
(alice_common.lifecycle)."""

import alice_kafkaflow.main as kafkaflow_main
import pytest
from alice_common import clients
from alice_common.startup import wait_started
from alice_kafkaflow.main import create_app
from alice_kafkaflow.settings import Settings


class Recorded:
    def __init__(self, name: str, stopped: list[str]) -> None:
        self.name, self.stopped = name, stopped

    async def stop(self) -> None:
        self.stopped.append(self.name)


class BrokenPoller:
    def __init__(self, _settings) -> None:
        raise RuntimeError("the poller cannot be built")


async def test_a_start_failing_after_the_producer_started_still_stops_it(monkeypatch):
    stopped: list[str] = []

    async def started_producer(_settings):
        return Recorded("producer", stopped)

    monkeypatch.setattr(clients, "started_kafka_producer", started_producer)
    monkeypatch.setattr(kafkaflow_main, "KafkaPoller", BrokenPoller)
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="the poller cannot be built"):
            await wait_started(app, timeout_s=10)
    assert stopped == ["producer"]
