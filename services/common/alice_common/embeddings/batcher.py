"""Coalesce concurrent `aembed` calls into shared model batches, one batch at a time.

Many small concurrent requests (two messages per chat turn, eight turns in flight) would
otherwise each run the model in its own thread: every run pays the fixed per-call cost and the
runs fight over the same cores. Here one worker embeds everything queued so far in one call.
"""

import asyncio
from collections.abc import Sequence

import numpy as np

from alice_common.embeddings.base import Embedder


class BatchingEmbedder(Embedder):
    def __init__(self, inner: Embedder, max_batch: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future]] | None = None
        self._worker: asyncio.Task | None = None
        # One model run at a time: onnxruntime already spreads one run over every core, and two
        # runs at once only make both slower.
        self._running: asyncio.Lock | None = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if self._running is None:
            self._running = asyncio.Lock()
        if len(texts) >= self.max_batch:
            async with self._running:
                return await self.inner.aembed(texts)
        if self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.create_task(self._run(), name="embedding-batcher")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((texts, future))
        return await future

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def _run(self) -> None:
        queue = self._queue
        while True:
            jobs = [await queue.get()]
            size = len(jobs[0][0])
            while not queue.empty() and size < self.max_batch:
                job = queue.get_nowait()
                jobs.append(job)
                size += len(job[0])
            texts = [t for job_texts, _ in jobs for t in job_texts]
            try:
                async with self._running:
                    vectors = await self.inner.aembed(texts)
            except Exception as exc:  # each caller gets the failure of its own request
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for job_texts, future in jobs:
                if not future.done():
                    future.set_result(vectors[start : start + len(job_texts)])
                start += len(job_texts)
