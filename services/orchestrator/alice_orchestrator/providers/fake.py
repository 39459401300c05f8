"""A deterministic stand-in model for pipeline benchmarks and pipeline-only tests.

It never replaces the real model in acceptance tests; it exists so the benchmark can measure the
system's own overhead separately from the model's speed.
"""

import asyncio
import time

from alice_orchestrator.providers.base import ChatProvider, Generation, GenerationRequest, estimate_tokens

WORDS = "Alice is answering your message with a short, predictable reply for testing".split()


class FakeProvider(ChatProvider):
    model = "fake"

    def __init__(self, ttft_ms: float = 0.0, token_interval_ms: float = 5.0):
        self.ttft_s = ttft_ms / 1000
        self.interval_s = token_interval_ms / 1000

    async def _deltas(self, generation: Generation, request: GenerationRequest):
        generation.prompt_tokens = sum(estimate_tokens(m["content"]) for m in request.messages)
        started = time.perf_counter()
        if self.ttft_s:
            await asyncio.sleep(self.ttft_s)
        for i in range(request.max_tokens):
            if i and self.interval_s:
                await asyncio.sleep(self.interval_s)
            if generation.ttft_ms is None:
                generation.ttft_ms = (time.perf_counter() - started) * 1000
            word = WORDS[i % len(WORDS)]
            if word in request.stop:
                generation.finish_reason = "stop"
                return
            generation.completion_tokens += 1
            yield ("" if i == 0 else " ") + word
        generation.finish_reason = "length"
