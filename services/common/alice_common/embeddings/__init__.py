"""Sentence embeddings for knowledge and memory: all-MiniLM-L6-v2 (384-d) without PyTorch.

embedder = get_embedder(settings)
vectors = embedder.embed(["some text"])        # np.ndarray float32, shape (1, 384), unit length
vectors = await embedder.aembed(["some text"])  # same, computed in a worker thread
"""

from functools import lru_cache

from alice_common.embeddings.base import EMBEDDING_DIM, Embedder, EmbeddingError
from alice_common.embeddings.batcher import BatchingEmbedder
from alice_common.embeddings.settings import EmbeddingSettings

__all__ = [
    "EMBEDDING_DIM",
    "BatchingEmbedder",
    "Embedder",
    "EmbeddingError",
    "EmbeddingSettings",
    "get_embedder",
]


def get_embedder(settings: object) -> Embedder:
    """The embedder `settings` ask for (any object with the `EmbeddingSettings` fields; missing
    ones take their defaults). Local models are loaded once per process and shared."""
    defaults = EmbeddingSettings.model_fields
    value = {name: getattr(settings, name, field.default) for name, field in defaults.items()}
    if value["embeddings_provider"] == "openai":
        from alice_common.embeddings.openai_provider import OpenAIEmbedder

        key = value["embeddings_api_key"]
        return OpenAIEmbedder(
            base_url=value["embeddings_base_url"],
            model=value["embeddings_model"],
            api_key=key.get_secret_value() if key is not None else None,
            dim=value["embeddings_dim"],
        )
    return _local(value["embeddings_runtime"], value["embeddings_batch_size"], value["embeddings_threads"])


@lru_cache(maxsize=4)
def _local(runtime: str, batch_size: int, threads: int) -> Embedder:
    if runtime == "numpy":
        from alice_common.embeddings.numpy_runtime import NumpyEmbedder

        return NumpyEmbedder(batch_size=batch_size)
    from alice_common.embeddings.onnx_runtime import OnnxEmbedder

    return OnnxEmbedder(batch_size=batch_size, threads=threads)
