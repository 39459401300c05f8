"""One streaming interface for every chat model.

`provider.stream(messages, ...)` returns a `Generation`: iterate it for text deltas; once the
iteration ends, `prompt_tokens`, `completion_tokens` and `ttft_ms` describe the run. Closing the
iterator early (a stop request) must stop the model's work promptly.
"""

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

ChatMessage = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}


class ProviderError(RuntimeError):
    """The model could not produce a reply (unreachable endpoint, bad response, ...)."""


@dataclass
class Generation:
    deltas: AsyncIterator[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
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


class ChatProvider:
    """The base of every provider: `stream` takes the arguments, the provider's `_deltas` runs the
    model and fills in the `Generation`'s figures as it goes."""

    model: str

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> Generation:
        """`stop`: strings that end the reply where they would start (not included in it).
        `seed`: make the run reproducible, so a retry of the same request generates the same text
        (same sampling seed, and no state carried over from earlier runs)."""
        request = GenerationRequest(messages, max_tokens, temperature, list(stop or []), seed)
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
