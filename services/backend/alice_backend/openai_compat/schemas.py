"""Request and response models of the OpenAI-compatible API (the subset Alice serves).

Requests are lenient where OpenAI is (ints for floats, unknown fields allowed through the model)
and then checked by `validate`: a parameter Alice cannot honour is refused with a 400 naming it,
never silently ignored, unless it is neutral (its default value) or only informational.
"""

from typing import Any, Literal

from alice_common.events import ChatTurn, CompletionRequest
from pydantic import BaseModel, ConfigDict, Field

from alice_backend.openai_compat import structured
from alice_backend.openai_compat.errors import OpenAIError

MAX_STOP = 4
MAX_STOP_CHARS = 64
MAX_LOGIT_BIAS = 300
MAX_TOP_LOGPROBS = 20
MAX_TOOL_CALLS = 32
# Informational fields some clients send; they change nothing about the answer.
IGNORED = {"user", "metadata", "store", "service_tier", "stream_options"}
# Parameters Alice cannot honour, accepted only at the value that changes nothing.
NEUTRAL: dict[str, tuple[Any, ...]] = {"n": (1,)}
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = None


class FunctionCallIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = Field(max_length=structured.MAX_SCHEMA_CHARS)


class ToolCallIn(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=32)
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=64)
    tool_calls: list[ToolCallIn] | None = Field(default=None, max_length=MAX_TOOL_CALLS)
    tool_call_id: str | None = Field(default=None, max_length=128)


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
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    top_p: float | None = Field(default=None, ge=0, le=1)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None


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
        turns.append(_turn(message, role, index))
    if not any(t.content.strip() or t.tool_calls for t in turns):
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
    return CompletionRequest(
        messages=turns, max_tokens=max_tokens, temperature=body.temperature, stop=stop, **_options(body)
    )


def _turn(message: ChatMessageIn, role: str, index: int) -> ChatTurn:
    if role == "tool" and not message.tool_call_id:
        raise OpenAIError(
            400, "invalid_value", "a message of role 'tool' needs the tool_call_id it answers",
            f"messages.{index}.tool_call_id",
        )  # fmt: skip
    if message.tool_calls and role != "assistant":
        raise OpenAIError(
            400, "invalid_value", "only assistant messages carry tool_calls", f"messages.{index}.tool_calls"
        )
    calls = [call.model_dump() for call in message.tool_calls] if message.tool_calls else None
    tool_call_id = message.tool_call_id if role == "tool" else None
    return ChatTurn(role=role, content=_text(message, index), tool_calls=calls, tool_call_id=tool_call_id)


def _logit_bias(bias: dict[str, float]) -> dict[str, float]:
    if len(bias) > MAX_LOGIT_BIAS:
        raise OpenAIError(
            400, "invalid_value", f"logit_bias takes at most {MAX_LOGIT_BIAS} tokens", "logit_bias"
        )
    for token, value in bias.items():
        if not token.isdigit() or not -100 <= value <= 100:
            raise OpenAIError(
                400,
                "invalid_value",
                "logit_bias maps token ids (digits) to numbers from -100 to 100",
                "logit_bias",
            )
    return bias


def _options(body: ChatCompletionIn) -> dict:
    """Structured output, tools and sampling, checked and bounded (None stays the server's default)."""
    tools = structured.tools(body.tools) if body.tools else []
    names = {tool["function"]["name"] for tool in tools}
    choice = None if body.tool_choice is None else structured.tool_choice(body.tool_choice, names)
    if body.top_logprobs is not None and not body.logprobs:
        raise OpenAIError(400, "invalid_value", "top_logprobs needs logprobs: true", "top_logprobs")
    return {
        "response_format": None
        if body.response_format is None
        else structured.response_format(body.response_format),
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "seed": body.seed,
        "top_p": body.top_p,
        "frequency_penalty": body.frequency_penalty,
        "presence_penalty": body.presence_penalty,
        "logit_bias": _logit_bias(body.logit_bias or {}),
        "top_logprobs": (body.top_logprobs or 0) if body.logprobs else None,
    }


# --- responses (for the OpenAPI document; the handlers build plain dicts) --------------------


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FunctionCall(BaseModel):
    name: str
    # A JSON object, as a string (OpenAI's shape).
    arguments: str


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None


class TokenLogprob(BaseModel):
    model_config = ConfigDict(extra="allow")
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[dict[str, Any]] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: Literal["stop", "length", "tool_calls"]


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
