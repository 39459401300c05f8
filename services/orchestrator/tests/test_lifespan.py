"""The orchestrator's start failing after its producer started still stops the producer at
shutdown (alice_common.lifecycle), after the clients started since, last first."""

import pytest
from alice_common import clients
from alice_common.startup import wait_started
from alice_orchestrator.main import create_app
from alice_orchestrator.settings import Settings


class Recorded:
    def __init__(self, name: str, stopped: list[str]) -> None:
        self.name, self.stopped = name, stopped

    async def stop(self) -> None:
        self.stopped.append(self.name)

    async def aclose(self) -> None:
        self.stopped.append(self.name)


async def test_a_start_failing_after_the_producer_started_still_stops_it_last(monkeypatch):
    stopped: list[str] = []

    async def started_producer(_settings):
        return Recorded("producer", stopped)

    def broken_mongo(_settings):
        raise RuntimeError("the MongoDB client cannot be built")

    monkeypatch.setattr(clients, "started_kafka_producer", started_producer)
    monkeypatch.setattr(clients, "redis_client", lambda _settings: Recorded("redis", stopped))
    monkeypatch.setattr(clients, "mongo_client", broken_mongo)
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="the MongoDB client cannot be built"):
            await wait_started(app, timeout_s=10)
    assert stopped == ["redis", "producer"]
