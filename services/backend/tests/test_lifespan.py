"""The backend's start failing after its producer started still stops the producer at shutdown
(alice_common.lifecycle), as every step's client is stopped, last first."""

import alice_backend.main as backend_main
import pytest
from alice_backend.main import create_app
from alice_backend.settings import Settings
from alice_common import clients
from alice_common.startup import wait_started


class Recorded:
    def __init__(self, name: str, stopped: list[str]) -> None:
        self.name, self.stopped = name, stopped

    async def stop(self) -> None:
        self.stopped.append(self.name)


async def test_a_start_failing_after_the_producer_started_still_stops_the_producer(monkeypatch):
    stopped: list[str] = []

    async def no_topics(*_args) -> list[str]:
        return []

    async def started_producer(_settings):
        return Recorded("producer", stopped)

    def broken_redis(_settings):
        raise RuntimeError("the Redis client cannot be built")

    monkeypatch.setattr(backend_main, "ensure_topics", no_topics)
    monkeypatch.setattr(clients, "started_kafka_producer", started_producer)
    monkeypatch.setattr(clients, "redis_client", broken_redis)
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match="the Redis client cannot be built"):
            await wait_started(app, timeout_s=10)
    assert stopped == ["producer"]
