"""Shared by the services' test_lifespan.py: a start that fails halfway must still stop, last
first, every client started before the failure (alice_common.lifecycle)."""

import pytest
from alice_common import clients
from alice_common.startup import wait_started


class Recorded:
    """A client or loop that notes when it is stopped or closed."""

    def __init__(self, name: str, stopped: list[str]) -> None:
        self.name, self.stopped = name, stopped

    async def stop(self) -> None:
        self.stopped.append(self.name)

    async def aclose(self) -> None:
        self.stopped.append(self.name)


def record_the_producer(monkeypatch, stopped: list[str]) -> None:
    async def started_producer(_settings):
        return Recorded("producer", stopped)

    monkeypatch.setattr(clients, "started_kafka_producer", started_producer)


def failing(message: str):
    """A factory that raises like a client that cannot be built."""

    def build(*_args, **_kwargs):
        raise RuntimeError(message)

    return build


async def assert_start_fails(app, message: str) -> None:
    """Runs the app's lifespan: its start fails with `message`, then it shuts down."""
    async with app.router.lifespan_context(app):
        with pytest.raises(RuntimeError, match=message):
            await wait_started(app, timeout_s=10)
