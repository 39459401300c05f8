"""The inference service: llama.cpp's `llama-server` serving the bundled model to every orchestrator
replica, several generations decoded together (parallel slots, continuous batching).

It speaks the OpenAI-compatible API, so this is `OpenAICompatProvider` plus what the in-process
provider (`local.py`) did beyond plain generation:
- the same sampling: llama.cpp's repeat penalty, and for a seeded request (a retry after a crash)
  no reuse of a cached prompt prefix, so the same request generates the same text;
- exact token counts for prompt budgeting, from the model's own vocabulary (loaded alone, no
  weights) instead of an estimate;
- every control token's spelling broken inside message text, since the server tokenizes the
  rendered prompt with control tokens honoured (nobody may open a `system` turn by typing it);
- a line over the server's slots with each waiting reply's place (`on_queue`): a reply waits only
  when every slot is busy, and chores (titles) go after replies (`InstanceQueue`).
A stop closes the HTTP stream; the server cancels the slot's task when its client goes away. A
server that dies mid-reply fails the attempt; the retry resets the reply stream and starts over.
One that cannot be reached at all (restarting, refusing connections, 503 while loading the model)
raises `ModelUnavailable` (openai_compat.py): the request waits, spending no attempt.
"""

import asyncio
import time

import httpx

from alice_orchestrator.providers.base import Generation, GenerationRequest, ModelUnavailable
from alice_orchestrator.providers.instance_queue import InstanceQueue
from alice_orchestrator.providers.local import (
    REPEAT_PENALTY,
    bundled_model_path,
    control_token_texts,
    neutralize,
)
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider


class InferenceProvider(OpenAICompatProvider):
    queues_requests = True

    def __init__(
        self,
        server_url: str,
        model: str,
        model_path: str = "",
        timeout_s: float = 120.0,
        ready_timeout_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        from llama_cpp import Llama

        self.server_url = server_url.rstrip("/")
        super().__init__(f"{self.server_url}/v1", model, None, timeout_s, transport)
        self._ready_timeout_s = ready_timeout_s
        path = model_path or str(bundled_model_path())
        self._vocab = Llama(model_path=path, vocab_only=True, verbose=False)
        self._control_texts = control_token_texts(self._vocab)
        self.slots = 1
        self._line: InstanceQueue[int] = InstanceQueue([0])

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._vocab.tokenize(text.encode(), add_bos=False, special=False))

    def _messages(self, request: GenerationRequest) -> list[dict]:
        return [m | {"content": neutralize(m["content"], self._control_texts)} for m in request.messages]

    def _body_extra(self, request: GenerationRequest) -> dict:
        extra: dict = {"repeat_penalty": REPEAT_PENALTY}
        if request.seed is not None:
            extra["cache_prompt"] = False
        return extra

    async def _deltas(self, generation: Generation, request: GenerationRequest):
        slot = await self._line.acquire(request.on_queue, chore=request.chore)
        try:
            if request.on_queue is not None:
                await request.on_queue(0)
            async for delta in super()._deltas(generation, request):
                yield delta
        finally:
            self._line.release(slot)

    async def server_props(self) -> dict:
        response = await self._client.get(f"{self.server_url}/props")
        response.raise_for_status()
        return response.json()

    async def warm_up(self) -> None:
        """Wait for the server (it may still be loading the model), learn its slot count, and run
        one tiny generation, before the service reports ready."""
        deadline = time.monotonic() + self._ready_timeout_s
        while True:
            try:
                props = await self.server_props()
                break
            except (httpx.HTTPError, ValueError) as exc:
                if time.monotonic() > deadline:
                    raise ModelUnavailable(
                        f"inference service at {self.server_url} not ready: {exc}"
                    ) from exc
                await asyncio.sleep(0.5)
        self.slots = max(1, int(props.get("total_slots") or 1))
        self._line = InstanceQueue(list(range(self.slots)))
        generation = self.stream([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
        async for _delta in generation:
            pass
