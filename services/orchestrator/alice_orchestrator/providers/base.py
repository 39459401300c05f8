"""One streaming interface for every chat model.

`provider.stream(messages, ...)` returns a `Generation`: iterate it for text deltas; once the
iteration ends, `prompt_tokens`, `completion_tokens`, `ttft_ms` and `finish_reason` describe the run.
When the last message is the assistant's, the model continues that text (a reply cut at its
length limit) instead of starting a new turn. Closing the
iterator early (a stop request) must stop the model's work promptly.

A provider that serves requests from a limited number of model instances (`queues_requests`)
reports a request's wait through `on_queue`: its 1-based place in line before it waits and on
every change, then 0 once a model instance takes it up (also when it never had to wait).
"""

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from alice_common.kafka.failures import Unavailable

ChatMessage = dict  # {"role": "system"|"user"|"assistant", "content": str}; `/v1` may add tool fields
# Place in line while waiting for a model instance (1 = next), 0 once generating.
OnQueue = Callable[[int], Awaitable[None]]


class ProviderError(RuntimeError):
    """The model could not produce a reply (unreachable endpoint, bad response, ...)."""


class ModelUnavailable(ProviderError, Unavailable):
    """The model endpoint could not be reached before it produced anything (connection refused,
    name not resolved, 503 while it loads): the request is not at fault, so the consume loop
    retries it without spending attempts, and a stop hands it to another replica (docs/kafka.md)."""


@dataclass
class Generation:
    deltas: AsyncIterator[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    # "length": cut at `max_tokens`; "stop": the model ended it; None: the provider did not say.
    finish_reason: str | None = None
    extra: dict = field(default_factory=dict)

    def __aiter__(self) -> AsyncIterator[str]:
        return self.deltas

    async def aclose(self) -> None:
        aclose = getattr(self.deltas, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[ChatMessage]
    max_tokens: int
    temperature: float
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    on_queue: OnQueue | None = None
    chore: bool = False
    # OpenAI request fields beyond these (`response_format`, `tools`, `top_p`, ...; chat/structured.py).
    options: dict = field(default_factory=dict)


class ChatProvider:
    """The base of every provider: `stream` takes the arguments, the provider's `_deltas` runs the
    model and fills in the `Generation`'s figures as it goes."""

    model: str
    # True when requests wait in line for a model instance and `on_queue` hears about it.
    queues_requests = False
    # True when the model takes OpenAI's `tools` itself; otherwise chat/structured.py writes them
    # into the prompt and a JSON schema, which the provider must honour as `response_format`.
    native_tools = False

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        seed: int | None = None,
        on_queue: OnQueue | None = None,
        chore: bool = False,
        options: dict | None = None,
    ) -> Generation:
        """`stop`: strings that end the reply where they would start (not included in it).
        `seed`: make the run reproducible, so a retry of the same request generates the same text
        (same sampling seed, and no state carried over from earlier runs).
        `on_queue`: told the request's place in line (see the module's docstring); providers
        without a queue never call it.
        `chore`: nobody waits on this text (a title): it goes after every waiting reply.
        `options`: OpenAI request fields; once the iteration ended, `extra` holds `tool_calls` and
        `logprobs` when the model gave them."""
        request = GenerationRequest(
            messages, max_tokens, temperature, list(stop or []), seed, on_queue, chore, dict(options or {})
        )
        generation = Generation(deltas=None)  # type: ignore[arg-type]
        generation.deltas = self._deltas(generation, request)
        return generation

    def _deltas(self, generation: Generation, request: GenerationRequest) -> AsyncIterator[str]:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    async def close(self) -> None:
        return None


def estimate_tokens(text: str) -> int:
    """Conservative token estimate for models whose tokenizer we do not have (about 3 chars/token)."""
    return math.ceil(len(text) / 3) if text else 0
