"""Coalesce concurrent `aembed` calls into shared model runs, one run at a time, shared fairly
between owners.

Many small concurrent requests (two messages per chat turn, eight turns in flight) would
otherwise each run the model in its own thread: every run pays the fixed per-call cost and the
runs fight over the same cores. Here one worker embeds what is queued in one call of at most
`max_batch` texts.

Requests carry an `owner` (the dataflow passes the user id). Each owner has its own line, and
every run takes one text from each owner waiting in turn, so it is split evenly between them; a
request larger than its share is embedded over several runs. So a user's 5,000-chunk document
takes its share of each run while another user's note or chat turn goes into the very next run,
instead of waiting behind the whole document. Requests without an owner share one line.

A run is also cut at about `max_tokens` tokens (1,024 by default: 4 full document chunks, or
dozens of chat messages): what a newcomer waits for is the run in progress, so runs are kept
short in time rather than in texts. On the CPU runtime a bigger run embeds no faster (2 cores:
runs of 4 chunks 7.5 chunks/s, of 32 chunks 4.7).
"""

import asyncio
from collections import OrderedDict, deque
from collections.abc import Hashable, Sequence

import numpy as np

from alice_common.embeddings.base import Embedder, empty

MODEL_MAX_TOKENS = 256  # the model reads no more of a text


def approximate_tokens(text: str) -> int:
    """About 4 characters per word piece in English; what the model reads of a text, no more."""
    return min(len(text) // 4 + 1, MODEL_MAX_TOKENS)


class _Request:
    __slots__ = ("filled", "future", "owner", "taken", "texts", "vectors")

    def __init__(self, owner: Hashable, texts: list[str], future: asyncio.Future, dim: int) -> None:
        self.owner = owner
        self.texts = texts
        self.future = future
        self.taken = 0  # texts handed to a run so far
        self.filled = 0  # texts embedded so far
        self.vectors = np.empty((len(texts), dim), dtype=np.float32)


class BatchingEmbedder(Embedder):
    def __init__(self, inner: Embedder, max_batch: int = 64, max_tokens: int = 1024) -> None:
        if max_batch < 1 or max_tokens < 1:
            raise ValueError("max_batch and max_tokens must be ≥ 1")
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_batch = max_batch
        self.max_tokens = max_tokens
        self._lines: OrderedDict[Hashable, deque[_Request]] = OrderedDict()  # rotation order
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def waiting(self) -> int:
        """Texts queued and not yet handed to a model run."""
        return sum(len(r.texts) - r.taken for line in self._lines.values() for r in line)

    async def aembed(self, texts: Sequence[str], owner: Hashable = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return empty(self.dim)
        if self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._worker = asyncio.create_task(self._run(), name="embedding-batcher")
        request = _Request(owner, texts, asyncio.get_running_loop().create_future(), self.dim)
        self._lines.setdefault(owner, deque()).append(request)
        self._wakeup.set()
        try:
            return await request.future
        finally:
            self._drop(request)  # cancelled (or failed): its remaining texts are not embedded

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        for line in self._lines.values():
            for request in line:
                if not request.future.done():
                    request.future.set_exception(RuntimeError("the embedder was closed"))
        self._lines.clear()

    def next_run(self) -> list[tuple[_Request, int, int]]:
        """Pieces (request, start, end) for the next model run: one text from each owner waiting
        in turn, until the run holds `max_batch` texts or about `max_tokens` tokens. An owner
        served goes to the back of the rotation, so owners a full run left out come first next
        time."""
        spans: dict[_Request, list[int]] = {}  # request → [start, end) in this run
        count = tokens = 0
        while self._lines and count < self.max_batch and tokens < self.max_tokens:
            for owner in list(self._lines):
                if count >= self.max_batch or tokens >= self.max_tokens:
                    break
                line = self._lines.pop(owner)
                request = line[0]
                span = spans.setdefault(request, [request.taken, request.taken])
                tokens += approximate_tokens(request.texts[request.taken])
                request.taken += 1
                span[1] = request.taken
                count += 1
                if request.taken == len(request.texts):
                    line.popleft()
                if line:
                    self._lines[owner] = line
        return [(request, start, end) for request, (start, end) in spans.items()]

    def _drop(self, request: _Request) -> None:
        line = self._lines.get(request.owner)
        if line is not None and request in line:
            line.remove(request)
            if not line:
                del self._lines[request.owner]

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._lines:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            pieces = self.next_run()
            texts = [t for request, start, end in pieces for t in request.texts[start:end]]
            try:
                vectors = await self.inner.aembed(texts)
                if len(vectors) != len(texts):
                    raise RuntimeError(f"the embedder returned {len(vectors)} vectors for {len(texts)} texts")
            except Exception as exc:  # each caller gets the failure of its own request
                for request, _, _ in pieces:
                    self._drop(request)
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            at = 0
            for request, start, end in pieces:
                request.vectors[start:end] = vectors[at : at + end - start]
                at += end - start
                request.filled += end - start
                if request.filled == len(request.texts) and not request.future.done():
                    request.future.set_result(request.vectors)
