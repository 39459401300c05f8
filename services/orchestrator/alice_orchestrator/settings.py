from typing import Literal

from alice_common.embeddings import EmbeddingSettings
from alice_common.settings import AliceSettings
from pydantic import Field, SecretStr, field_validator, model_validator

from alice_orchestrator.model_list import ExtraModel, check_unique_names

DEFAULT_SYSTEM_PROMPT = "You are Alice, a helpful assistant. Answer clearly and concisely."


class Settings(AliceSettings, EmbeddingSettings):
    service_name: str = "orchestrator"
    port: int = 8001
    # The names this service answers to in the Host header (probes are exempt): the backend calls
    # it by its service name in compose and k8s.
    allowed_hosts: str = "127.0.0.1,localhost"

    # Conversations handled at once by one replica (key-ordered: one at a time per conversation).
    chat_concurrency: int = Field(8, ge=1)
    chat_max_attempts: int = Field(7, ge=1)
    # How long a request may wait for an unreachable model endpoint (ModelUnavailable spends no
    # attempt) before it is dead-lettered and its reply ends `generation_failed`: longer than a
    # canary release with a broken endpoint lives before it is aborted (docs/kafka.md).
    chat_unavailable_give_up_s: float = Field(120.0, ge=0)
    # A request that was in flight when its orchestrator died runs alone next time; once it has
    # crashed the orchestrator while alone this many times it is dead-lettered and the user told
    # `generation_failed` (docs/kafka.md, "Crash attribution": why 5).
    chat_max_solo_crashes: int = Field(5, ge=1)
    reply_stream_ttl_s: int = Field(3600, ge=60)
    # How fast the group notices a dead replica and hands its conversations to another one.
    chat_consumer_session_timeout_ms: int = Field(10000, ge=1000)

    # Chat model. `local` runs the bundled SmolLM2 GGUF in this process; `inference` is the inference
    # service (llama.cpp's llama-server at INFERENCE_URL, serving the same model to every replica);
    # `openai` is any OpenAI-compatible endpoint; `fake` is a deterministic stand-in for benchmarks.
    llm_provider: Literal["local", "inference", "openai", "fake"] = "local"
    inference_url: str = "http://127.0.0.1:8090"
    llm_max_tokens: int = Field(256, ge=1)
    # Low by default: the 135M local model drifts (other languages, invented facts) when hotter.
    llm_temperature: float = Field(0.3, ge=0.0, le=2.0)
    llm_context_tokens: int = Field(2048, ge=256)
    llm_model: str = "SmolLM2-135M-Instruct"
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 120.0
    # Models served beside the one above (which stays the default): a JSON list of OpenAI-compatible
    # endpoints, `[{"name", "base_url", "context_tokens", "max_tokens"?, "api_key_env"?}]`
    # (model_list.py; docs/chat.md, "Adding a model"). An API key comes from the environment
    # variable `api_key_env` names, never from this list.
    llm_models: list[ExtraModel] = []
    # local provider: path override for the GGUF file, CPU threads, generations at once.
    llm_model_path: str = ""
    # One thread by default: llama.cpp's threads wait on each other at every layer, so on shared,
    # oversubscribed cores 2 threads measured 1 token/s where 1 thread kept 33 tokens/s.
    # Raise it only where the model has cores to itself.
    llm_threads: int = Field(1, ge=1)
    llm_local_concurrency: int = Field(1, ge=1)
    # fake provider (benchmarks): time to the first token and between tokens.
    llm_fake_ttft_ms: float = 0.0
    llm_fake_token_interval_ms: float = 5.0

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    title_max_tokens: int = Field(16, ge=1)
    # Recent turns kept in the Redis `ctx:{conversation}` cache.
    context_cache_turns: int = Field(40, ge=2)
    context_cache_ttl_s: int = 86400

    # At most one XADD of token deltas per reply per interval.
    token_flush_interval_ms: float = Field(50.0, ge=0.0)
    # The contract: a stop is noticed within a second, so poll at least every 250 ms.
    cancel_poll_interval_ms: float = Field(200.0, gt=0.0, le=250.0)

    # Retrieval (knowledge sources and memory from Weaviate).
    knowledge_top_k: int = 4
    knowledge_min_score: float = 0.35
    memory_top_k: int = 3
    memory_min_score: float = 0.45
    retrieval_token_budget: int = 600
    # A user found to have no knowledge/memory tenant is looked up again after this long.
    retrieval_tenant_recheck_s: float = 5.0
    # The chat model needs the cores more than the query embedding does.
    embeddings_threads: int = 1

    @field_validator("llm_models")
    @classmethod
    def _model_names_are_unique(cls, models: list[ExtraModel]) -> list[ExtraModel]:
        return check_unique_names(models)

    @model_validator(mode="after")
    def _reply_fits_the_context(self) -> "Settings":
        if self.llm_max_tokens >= self.llm_context_tokens - 64:
            raise ValueError("LLM_MAX_TOKENS must leave room for the prompt within LLM_CONTEXT_TOKENS")
        return self
