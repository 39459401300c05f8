"""The orchestrator's start failing after its producer started still stops the producer at
shutdown (alice_common.lifecycle), after the clients started since, last first."""

from alice_common import clients
from alice_orchestrator.main import create_app
from alice_orchestrator.settings import Settings

from tests.support.lifespan import Recorded, assert_start_fails, failing, record_the_producer


async def test_a_start_failing_after_the_producer_started_still_stops_it_last(monkeypatch):
    stopped: list[str] = []
    record_the_producer(monkeypatch, stopped)
    monkeypatch.setattr(clients, "redis_client", lambda _settings: Recorded("redis", stopped))
    monkeypatch.setattr(clients, "mongo_client", failing("the MongoDB client cannot be built"))
    await assert_start_fails(create_app(Settings()), "the MongoDB client cannot be built")
    assert stopped == ["redis", "producer"]
