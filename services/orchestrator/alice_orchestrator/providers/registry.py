"""The models this orchestrator serves, by name: the built-in default (`make_provider`) first, then
the `LLM_MODELS` endpoints. A `chat.requests` event names one (or none: the default); titles and
other chores always use the default."""

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from alice_orchestrator.model_list import ExtraModel
from alice_orchestrator.providers.base import ChatProvider
from alice_orchestrator.settings import Settings


class UnknownModel(LookupError):
    """A request named a model this orchestrator does not serve (an event from before a change of
    `LLM_MODELS`, or a backend configured differently)."""

    def __init__(self, name: str):
        super().__init__(f"the model {name!r} is not served here")
        self.name = name


@dataclass(frozen=True)
class ServedModel:
    name: str
    provider: ChatProvider
    context_tokens: int
    # A reply's length when the request names none.
    max_tokens: int

    @property
    def max_tokens_limit(self) -> int:
        """The longest reply a request may ask for: half the context, the rest is the prompt's."""
        return self.context_tokens // 2


class ModelRegistry:
    def __init__(self, default: ServedModel, extras: Sequence[ServedModel] = ()):
        self.default = default
        self._by_name: dict[str, ServedModel] = {}
        for model in (default, *extras):
            if model.name in self._by_name:
                raise ValueError(
                    f"LLM_MODELS names {model.name!r} twice or as the default model's name: "
                    "names must be unique"
                )
            self._by_name[model.name] = model

    def get(self, name: str | None) -> ServedModel:
        """The named model; None is the default. Raises `UnknownModel`."""
        if name is None:
            return self.default
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownModel(name) from None

    def __iter__(self) -> Iterator[ServedModel]:
        """The default first, then the extra models in `LLM_MODELS` order."""
        return iter(self._by_name.values())


def default_model(settings: Settings, provider: ChatProvider) -> ServedModel:
    """The built-in model (`LLM_PROVIDER`), under the name its provider reports, as before."""
    return ServedModel(provider.model, provider, settings.llm_context_tokens, settings.llm_max_tokens)


def extra_models(settings: Settings, environ: Mapping[str, str] = os.environ) -> list[ServedModel]:
    """A provider for each `LLM_MODELS` entry. Raises ValueError when an entry's key is missing."""
    from alice_orchestrator.providers.openai_compat import OpenAICompatProvider

    served = []
    for entry in settings.llm_models:
        key = api_key_of(entry, environ)
        provider = OpenAICompatProvider(entry.base_url, entry.name, key, settings.llm_timeout_s)
        served.append(ServedModel(entry.name, provider, entry.context_tokens, entry.max_tokens))
    return served


def api_key_of(entry: ExtraModel, environ: Mapping[str, str]) -> str | None:
    if entry.api_key_env is None:
        return None
    key = environ.get(entry.api_key_env, "")
    if not key:
        raise ValueError(
            f"LLM_MODELS: model {entry.name!r} takes its API key from {entry.api_key_env}, which is not set"
        )
    return key
