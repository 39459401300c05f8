"""The shared embedding batcher: one model run at a time, each run split fairly between owners."""

import asyncio

import numpy as np
import pytest
from alice_common.embeddings import BatchingEmbedder
from alice_common.embeddings.base import Embedder


class Recording(Embedder):
    """A stand-in model: a text's vector encodes its number; every run is recorded and can be
    held open by the test."""

    name, dim = "recording", 4

    def __init__(self) -> None:
        self.runs: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    def embed(self, texts):
        return np.array([[float(t.split(":")[1]), 0, 0, 1] for t in texts], dtype=np.float32)

    async def aembed(self, texts, owner=None):
        self.runs.append(list(texts))
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model down")
        return self.embed(texts)


def texts(owner: str, n: int, start: int = 0) -> list[str]:
    return [f"{owner}:{i}" for i in range(start, start + n)]


async def test_a_big_request_is_split_and_another_owner_joins_the_next_run():
    model = Recording()
    batcher = BatchingEmbedder(model, max_batch=8)
    model.gate.clear()
    big = asyncio.create_task(batcher.aembed(texts("alice", 40), owner="alice"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert model.runs == [texts("alice", 8)]  # the first run takes what is there
    note = asyncio.create_task(batcher.aembed(["bob:1000"], owner="bob"))
    turn = asyncio.create_task(batcher.aembed(["carol:2000", "carol:2001"], owner="carol"))
    await asyncio.sleep(0)
    model.gate.set()
    vectors = await note
    assert vectors[:, 0].tolist() == [1000.0]
    # The run right after the one in progress carries bob's note and carol's turn.
    assert "bob:1000" in model.runs[1] and "carol:2000" in model.runs[1] and "carol:2001" in model.runs[1]
    assert len(model.runs[1]) == 8  # alice's chunks fill the rest: no run is smaller than needed
    await turn
    result = await big
    assert result[:, 0].tolist() == list(range(40))  # in order, every text once
    assert sum(len(r) for r in model.runs) == 43
    await batcher.aclose()


async def test_owners_share_each_run_evenly():
    model = Recording()
    batcher = BatchingEmbedder(model, max_batch=8)
    model.gate.clear()
    first = asyncio.create_task(batcher.aembed(["x:0"], owner="x"))
    await asyncio.sleep(0)
    a = asyncio.create_task(batcher.aembed(texts("alice", 20), owner="alice"))
    b = asyncio.create_task(batcher.aembed(texts("bob", 20, 100), owner="bob"))
    await asyncio.sleep(0)
    model.gate.set()
    await asyncio.gather(first, a, b)
    for run in model.runs[1:4]:
        owners = [t.split(":")[0] for t in run]
        assert owners.count("alice") == owners.count("bob") == 4
    await batcher.aclose()


async def test_a_failed_run_fails_only_its_requests_and_the_next_ones_go_on():
    model = Recording()
    batcher = BatchingEmbedder(model, max_batch=8)
    model.fail_next = True
    with pytest.raises(RuntimeError, match="model down"):
        await batcher.aembed(texts("alice", 20), owner="alice")
    assert batcher.waiting == 0  # the rest of the failed request is not embedded
    vectors = await batcher.aembed(["bob:7"], owner="bob")
    assert vectors[:, 0].tolist() == [7.0]
    await batcher.aclose()


async def test_a_cancelled_request_leaves_the_line():
    model = Recording()
    batcher = BatchingEmbedder(model, max_batch=4)
    model.gate.clear()
    first = asyncio.create_task(batcher.aembed(texts("x", 4), owner="x"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(batcher.aembed(texts("alice", 100), owner="alice"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert batcher.waiting == 0
    model.gate.set()
    await first
    assert len(model.runs) == 1
    assert await batcher.aembed([]) is not None
    await batcher.aclose()
