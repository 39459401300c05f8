"""The backend's start failing after its producer started still stops the producer at shutdown
(alice_common.lifecycle), as every step's client is stopped, last first."""

import alice_backend.main as backend_main
from alice_backend.main import create_app
from alice_backend.settings import Settings
from alice_common import clients

from tests.support.lifespan import assert_start_fails, failing, record_the_producer


async def test_a_start_failing_after_the_producer_started_still_stops_the_producer(monkeypatch):
    stopped: list[str] = []

    async def no_topics(*_args) -> list[str]:
        return []

    monkeypatch.setattr(backend_main, "ensure_topics", no_topics)
    record_the_producer(monkeypatch, stopped)
    monkeypatch.setattr(clients, "redis_client", failing("the Redis client cannot be built"))
    await assert_start_fails(create_app(Settings()), "the Redis client cannot be built")
    assert stopped == ["producer"]
