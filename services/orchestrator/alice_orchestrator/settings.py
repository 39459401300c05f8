from typing import Literal

from alice_common.embeddings import EmbeddingSettings
from alice_common.settings import AliceSettings
from pydantic import SecretStr

DEFAULT_SYSTEM_PROMPT = "You are Alice, a helpful assistant. Answer clearly and concisely."


class Settings(AliceSettings, EmbeddingSettings):
    service_name: str = "orchestrator"
    port: int = 8001

    # Conversations handled at once by one replica (key-ordered: one at a time per conversation).
    chat_concurrency: int = 8
    chat_max_attempts: int = 3
    reply_stream_ttl_s: int = 3600
    # How fast the group notices a dead replica and hands its conversations to another one.
    chat_consumer_session_timeout_ms: int = 10000

    # Chat model. `local` runs the bundled SmolLM2 GGUF; `openai` is any OpenAI-compatible endpoint;
    # `fake` is a deterministic stand-in for pipeline benchmarks only.
    llm_provider: Literal["local", "openai", "fake"] = "local"
    llm_max_tokens: int = 256
    llm_temperature: float = 0.7
    llm_context_tokens: int = 2048
    llm_model: str = "SmolLM2-135M-Instruct"
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 120.0
    # local provider: path override for the GGUF file, CPU threads, generations at once.
    llm_model_path: str = ""
    # One thread by default: llama.cpp's threads wait on each other at every layer, so on shared,
    # oversubscribed cores 2 threads measured 1 token/s where 1 thread kept 33 tokens/s.
    # Raise it only where the model has cores to itself.
    llm_threads: int = 1
    llm_local_concurrency: int = 1
    # fake provider (benchmarks): time to the first token and between tokens.
    llm_fake_ttft_ms: float = 0.0
    llm_fake_token_interval_ms: float = 5.0

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    title_max_tokens: int = 16
    # Recent turns kept in the Redis `ctx:{conversation}` cache.
    context_cache_turns: int = 40
    context_cache_ttl_s: int = 86400

    # At most one XADD of token deltas per reply per interval.
    token_flush_interval_ms: float = 20.0
    cancel_poll_interval_ms: float = 200.0

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
