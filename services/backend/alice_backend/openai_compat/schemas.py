"""Request and response models of the OpenAI-compatible API (the subset Alice serves).

Requests are lenient where OpenAI is (ints for floats, unknown fields allowed through the model)
and then checked by `validate`: a parameter Alice cannot honour is refused with a 400 naming it,
never silently ignored, unless it is neutral (its default value) or only informational.
"""

from typing import Any, Literal

from alice_common.events import ChatTurn, CompletionRequest
from pydantic import BaseModel, ConfigDict, Field

from alice_backend.openai_compat.errors import OpenAIError

MAX_STOP = 4
MAX_STOP_CHARS = 64
# Informational fields some clients send; they change nothing about the answer.
IGNORED = {"user", "metadata", "store", "service_tier", "parallel_tool_calls", "stream_options"}
# Parameters Alice cannot honour, accepted only at the value that changes nothing.
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "n": (1,),
    "top_p": (1, 1.0),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "tools": ([],),
    "tool_choice": ("none",),
    "response_format": ({"type": "text"},),
}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=32)
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=64)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stop: str | list[str] | None = None


def _text(message: ChatMessageIn, index: int) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise OpenAIError(
                400, "unsupported_content", f"only text content is supported, not {part.type!r}",
                f"messages.{index}.content",
            )  # fmt: skip
        parts.append(part.text)
    return "".join(parts)


def validate(body: ChatCompletionIn, max_tokens_limit: int) -> CompletionRequest:
    """The orchestrator's request, or an OpenAIError (400) naming the first unusable parameter."""
    for name, value in (body.model_extra or {}).items():
        if value is None or name in IGNORED:
            continue
        if name in NEUTRAL and value in NEUTRAL[name]:
            continue
        raise OpenAIError(400, "unsupported_parameter", f"'{name}' is not supported by this server", name)
    turns = []
    for index, message in enumerate(body.messages):
        role = ROLES.get(message.role)
        if role is None:
            raise OpenAIError(
                400, "unsupported_role",
                f"role {message.role!r} is not supported; use system, user or assistant",
                f"messages.{index}.role",
            )  # fmt: skip
        turns.append(ChatTurn(role=role, content=_text(message, index)))
    if not any(t.content.strip() for t in turns):
        raise OpenAIError(400, "empty_messages", "every message is empty", "messages")
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None and max_tokens > max_tokens_limit:
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise OpenAIError(
            400, "invalid_value", f"{param} must be at most {max_tokens_limit} for this model", param
        )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > MAX_STOP or any(not s or len(s) > MAX_STOP_CHARS for s in stop):
        raise OpenAIError(
            400, "invalid_value",
            f"stop takes at most {MAX_STOP} non-empty strings of at most {MAX_STOP_CHARS} characters",
            "stop",
        )  # fmt: skip
    return CompletionRequest(messages=turns, max_tokens=max_tokens, temperature=body.temperature, stop=stop)


# --- responses (for the OpenAPI document; the handlers build plain dicts) --------------------


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorBody


def openai_error_responses(*statuses: int) -> dict[int, dict]:
    return {s: {"model": OpenAIErrorResponse, "description": "OpenAI-shaped error"} for s in statuses}
