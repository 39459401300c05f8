"""Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama, llama.cpp server)."""

from collections.abc import Sequence

import httpx
import numpy as np

from alice_common.embeddings.base import Embedder, EmbeddingError, empty, l2_normalize


class OpenAIEmbedder(Embedder):
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int = 384,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = f"openai/{model}"
        self.model = model
        self.dim = dim
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Accept both "http://host/v1" and "http://host".
        root = base_url.rstrip("/")
        self.url = f"{root}/embeddings" if root.endswith("/v1") else f"{root}/v1/embeddings"
        self.client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        try:
            response = self.client.post(self.url, json={"model": self.model, "input": texts})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.array([item["embedding"] for item in data], dtype=np.float32)
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"embeddings endpoint {self.url}: {exc}") from exc
        if vectors.shape != (len(texts), self.dim):
            raise EmbeddingError(
                f"embeddings endpoint returned shape {vectors.shape}, want ({len(texts)}, {self.dim})"
            )
        return l2_normalize(vectors)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return empty(self.dim)
        parts = [
            self._embed_batch(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts)
