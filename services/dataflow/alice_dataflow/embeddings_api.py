"""Embeddings for `/v1/embeddings`: the model that indexes documents, for any text a user sends."""

from alice_common.embeddings import Embedder
from alice_common.embeddings.tokenizer import MAX_SEQ_LENGTH
from alice_common.wire import EmbeddingModel, Embeddings, EmbeddingsRequest
from fastapi import APIRouter

from alice_dataflow.api import UserId
from alice_dataflow.app_context import Ctx
from alice_dataflow.errors import ApiError

router = APIRouter(prefix="/internal/embeddings")

# The local model reads MAX_SEQ_LENGTH word pieces including its two special tokens.
LOCAL_MAX_INPUT_TOKENS = MAX_SEQ_LENGTH - 2
# An external endpoint's limit is its own; OpenAI's embedding models read this many.
EXTERNAL_MAX_INPUT_TOKENS = 8191


def describe(embedder: Embedder) -> EmbeddingModel:
    local = embedder.name.startswith("all-MiniLM-L6-v2")
    return EmbeddingModel(
        model=embedder.name.split("/")[0] if local else embedder.name,
        dim=embedder.dim,
        max_input_tokens=LOCAL_MAX_INPUT_TOKENS if local else EXTERNAL_MAX_INPUT_TOKENS,
    )


@router.get("/model", response_model=EmbeddingModel)
async def model(ctx: Ctx) -> EmbeddingModel:
    return describe(ctx.embedder)


@router.post("", response_model=Embeddings)
async def embed(body: EmbeddingsRequest, user_id: UserId, ctx: Ctx) -> Embeddings:
    described = describe(ctx.embedder)
    tokens = [ctx.embedder.count_tokens(text) for text in body.texts]
    for index, count in enumerate(tokens):
        if count > described.max_input_tokens:
            raise ApiError(
                400,
                "context_length_exceeded",
                f"input[{index}] has {count} tokens; {described.model} reads at most"
                f" {described.max_input_tokens} tokens per input",
            )
    vectors = await ctx.embedder.aembed(body.texts, owner=user_id)
    return Embeddings(model=described.model, vectors=vectors.tolist(), tokens=tokens)
