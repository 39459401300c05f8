"""`LLM_MODELS`: the models served beside the built-in one, each by an OpenAI-compatible endpoint
(another llama-server, vLLM, ...). Parsed and checked at startup; `providers/registry.py` builds
their providers."""

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What a model's id may look like in `/v1/models` and in a `chat.requests` event: vLLM's ids carry
# an organisation (`org/model`), llama-server's aliases a tag (`model:q4`).
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
# The name of an environment variable (a Secret in k8s, `.env` in compose): never the key itself.
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"
MIN_CONTEXT_TOKENS = 256


class ExtraModel(BaseModel):
    """One entry of `LLM_MODELS`, e.g.
    `{"name": "qwen2.5-7b", "base_url": "http://vllm:8000/v1", "context_tokens": 8192}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=MODEL_NAME_PATTERN, description="its id in /v1 and the `model` sent upstream")
    base_url: str = Field(description="the endpoint's OpenAI-compatible base URL, ending in /v1")
    context_tokens: int = Field(ge=MIN_CONTEXT_TOKENS, le=1_048_576)
    # A reply's length when the request names none; at most half the context (the limit /v1 checks).
    max_tokens: int = Field(256, ge=1)
    api_key_env: str | None = Field(default=None, pattern=ENV_NAME_PATTERN)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("base_url must not carry a query, fragment or credentials (use api_key_env)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _reply_fits_the_context(self) -> "ExtraModel":
        if self.max_tokens > self.context_tokens // 2:
            raise ValueError(f"model {self.name!r}: max_tokens must be at most half of context_tokens")
        return self


def check_unique_names(models: list[ExtraModel]) -> list[ExtraModel]:
    names = [model.name for model in models]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"LLM_MODELS names must be unique; repeated: {', '.join(repeated)}")
    return models
