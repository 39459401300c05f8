"""OpenAI-compatible `/v1/embeddings` with the model that indexes documents (all-MiniLM-L6-v2,
run by the dataflow), so clients can build retrieval on Alice too (docs/api.md)."""

import base64
import struct

from alice_common.wire import EmbeddingModel
from fastapi import APIRouter

from alice_backend.app_context import AppContext
from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.openai_compat.embedding_schemas import (
    MAX_INPUT_CHARS,
    MAX_INPUTS,
    Embedding,
    EmbeddingList,
    EmbeddingsIn,
    EmbeddingsUsage,
)
from alice_backend.openai_compat.errors import OpenAIError
from alice_backend.openai_compat.schemas import openai_error_responses
from alice_backend.ownership_cache import TtlCache

router = APIRouter(prefix="/v1", tags=["openai-compatible"])

_described = TtlCache(ttl_s=60.0, max_entries=1)


async def embedding_model(ctx: AppContext) -> EmbeddingModel:
    described = _described.get("model")
    if described is None:
        described = await ctx.dataflow.embedding_model()
        _described.put("model", described)
    return described


def _texts(body: EmbeddingsIn) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_INPUTS:
        raise OpenAIError(400, "invalid_value", f"input: 1 to {MAX_INPUTS} texts per request", "input")
    for index, text in enumerate(texts):
        if not text or len(text) > MAX_INPUT_CHARS:
            message = f"input[{index}]: each text has 1 to {MAX_INPUT_CHARS} characters"
            raise OpenAIError(400, "invalid_value", message, "input")
    return texts


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


@router.post(
    "/embeddings",
    response_model=EmbeddingList,
    responses=openai_error_responses(400, 401, 404, 413, 429, 502, 503),
)
async def create_embeddings(body: EmbeddingsIn, ctx: Ctx, user_id: UserId) -> EmbeddingList:
    texts = _texts(body)
    described = await embedding_model(ctx)
    if body.model != described.model:
        message = f"The model '{body.model[:200]}' does not exist; the embedding model is '{described.model}'"
        raise OpenAIError(404, "model_not_found", message, "model")
    if body.dimensions is not None and body.dimensions != described.dim:
        # Not shortened: the model was not trained for shorter vectors (no Matryoshka training).
        message = f"dimensions: {described.model} gives {described.dim}-dimensional vectors only"
        raise OpenAIError(400, "unsupported_value", message, "dimensions")
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:embeddings", s.embeddings_rate_capacity, s.embeddings_rate_per_s,
        "embedding too fast; retry later",
    )  # fmt: skip
    embedded = await ctx.dataflow.embed(user_id, texts)
    data = [
        Embedding(index=i, embedding=_encoded(vector, body.encoding_format))
        for i, vector in enumerate(embedded.vectors)
    ]
    tokens = sum(embedded.tokens)
    return EmbeddingList(
        data=data, model=embedded.model, usage=EmbeddingsUsage(prompt_tokens=tokens, total_tokens=tokens)
    )
