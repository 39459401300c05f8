"""The embedder interface: texts in, unit-length float32 vectors out."""

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence

import numpy as np

EMBEDDING_DIM = 384


class EmbeddingError(RuntimeError):
    """The embedding provider could not produce vectors (bad response, unreachable endpoint)."""


class Embedder(ABC):
    #: Name stored next to vectors so a change of model is visible.
    name: str = "embedder"
    dim: int = EMBEDDING_DIM

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, shape (len(texts), dim), float32. Blocking."""

    async def aembed(self, texts: Sequence[str], owner: Hashable = None) -> np.ndarray:
        """`embed` in a worker thread, so the event loop keeps serving while the CPU works.
        `owner` (a user id) matters only to a shared embedder: `BatchingEmbedder` shares its
        model runs fairly between owners."""
        return await asyncio.to_thread(self.embed, list(texts))

    def count_tokens(self, text: str) -> int:
        """Model tokens in `text` (without special tokens); a word count where no tokenizer exists."""
        return len(text.split())


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Average of the token vectors the attention mask keeps (padding excluded)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    return summed / counts


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def empty(dim: int = EMBEDDING_DIM) -> np.ndarray:
    return np.zeros((0, dim), dtype=np.float32)
