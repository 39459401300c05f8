"""A conversation's chat settings (`ChatSettings`: model, system prompt, temperature, max tokens):
checked against the served models when saved, and turned into what its replies are generated with."""

from dataclasses import dataclass

from alice_common.errors import ApiError
from alice_common.wire import ChatSettings

from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, UnknownModel
from alice_orchestrator.settings import Settings


def checked_settings(models: ModelRegistry, settings: ChatSettings) -> dict:
    """The settings as stored (defaults left out). A model not served here, a blank system prompt
    or a `max_tokens` beyond the model's limit is a 422."""
    try:
        served = models.get(settings.model)
    except UnknownModel as exc:
        raise ApiError(422, "model_not_found", f"the model {exc.name[:128]!r} is not served") from exc
    if settings.system_prompt is not None and not settings.system_prompt.strip():
        raise ApiError(422, "validation_error", "system_prompt must not be blank")
    if settings.max_tokens is not None and settings.max_tokens > served.max_tokens_limit:
        raise ApiError(
            422,
            "max_tokens_too_large",
            f"max_tokens must be at most {served.max_tokens_limit} for the model {served.name}",
        )
    return settings.model_dump(exclude_none=True)


def chosen_model(conversation: dict) -> str | None:
    return (conversation.get("settings") or {}).get("model")


@dataclass(frozen=True)
class ReplySettings:
    system_prompt: str
    temperature: float
    max_tokens: int


def reply_settings(settings: Settings, conversation: dict, served: ServedModel) -> ReplySettings:
    """The conversation's choices, each falling back to the server's default; `max_tokens` never
    beyond what the model allows now (its `LLM_MODELS` entry may have changed since)."""
    chosen = conversation.get("settings") or {}
    max_tokens = chosen.get("max_tokens") or served.max_tokens
    return ReplySettings(
        system_prompt=chosen.get("system_prompt") or settings.system_prompt,
        temperature=settings.llm_temperature if chosen.get("temperature") is None else chosen["temperature"],
        max_tokens=min(max_tokens, served.max_tokens_limit),
    )
