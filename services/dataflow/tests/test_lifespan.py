"""The dataflow's start failing after its producer started still stops the producer at shutdown
(alice_common.lifecycle), before the embedder started ahead of it."""

import alice_dataflow.main as dataflow_main
from alice_common import clients
from alice_dataflow.main import create_app
from alice_dataflow.settings import Settings

from tests.support.lifespan import Recorded, assert_start_fails, failing, record_the_producer


async def test_a_start_failing_after_the_producer_started_still_stops_it(monkeypatch):
    stopped: list[str] = []
    monkeypatch.setattr(dataflow_main, "get_embedder", lambda _settings: object())
    monkeypatch.setattr(dataflow_main, "BatchingEmbedder", lambda *_a, **_k: Recorded("embedder", stopped))
    record_the_producer(monkeypatch, stopped)
    monkeypatch.setattr(clients, "mongo_client", failing("the MongoDB client cannot be built"))
    await assert_start_fails(create_app(Settings()), "the MongoDB client cannot be built")
    assert stopped == ["producer", "embedder"]
