"""Embedding settings, mixed into the settings class of each service that embeds."""

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings


class EmbeddingSettings(BaseSettings):
    # local = all-MiniLM-L6-v2 in-process; openai = an OpenAI-compatible /v1/embeddings endpoint.
    embeddings_provider: Literal["local", "openai"] = "local"
    # local only: onnx (int8, fast) or numpy (float32 reference).
    embeddings_runtime: Literal["onnx", "numpy"] = "onnx"
    # onnxruntime intra-op threads; 0 lets onnxruntime use every core.
    embeddings_threads: int = 0
    embeddings_batch_size: int = 32
    embeddings_base_url: str = "http://127.0.0.1:11434/v1"
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str = "all-minilm"
    # Vectors from the endpoint must have this many dimensions (the Weaviate collections hold 384).
    embeddings_dim: int = 384
