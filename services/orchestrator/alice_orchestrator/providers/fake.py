"""A deterministic stand-in model for pipeline benchmarks and pipeline-only tests.

It never replaces the real model in acceptance tests; it exists so the benchmark can measure the
system's own overhead separately from the model's speed.
"""

import asyncio
import time

from alice_orchestrator.providers.base import ChatMessage, Generation, estimate_tokens

WORDS = "Alice is answering your message with a short, predictable reply for testing".split()


class FakeProvider:
    model = "fake"

    def __init__(self, ttft_ms: float = 0.0, token_interval_ms: float = 5.0):
        self.ttft_s = ttft_ms / 1000
        self.interval_s = token_interval_ms / 1000

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        seed: int | None = None,  # always reproducible
    ) -> Generation:
        generation = Generation(deltas=None)  # type: ignore[arg-type]
        generation.prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        generation.deltas = self._run(generation, max_tokens, list(stop or []))
        return generation

    async def _run(self, generation: Generation, max_tokens: int, stop: list[str]):
        started = time.perf_counter()
        if self.ttft_s:
            await asyncio.sleep(self.ttft_s)
        for i in range(max_tokens):
            if i and self.interval_s:
                await asyncio.sleep(self.interval_s)
            if generation.ttft_ms is None:
                generation.ttft_ms = (time.perf_counter() - started) * 1000
            word = WORDS[i % len(WORDS)]
            if word in stop:
                return
            generation.completion_tokens += 1
            yield ("" if i == 0 else " ") + word

    async def close(self) -> None:
        return None
