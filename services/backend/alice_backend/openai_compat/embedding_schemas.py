"""Request and response models of `/v1/embeddings` (`routes/v1_embeddings.py`)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# At most this many inputs per request, each at most this long (the model reads far fewer
# characters than this: longer inputs are refused by their token count).
MAX_INPUTS = 256
MAX_INPUT_CHARS = 8000

Text = Field(min_length=1, max_length=MAX_INPUT_CHARS)


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] = Field(description="a text or a list of texts (token arrays are refused)")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, description="only the model's own")
    user: str | None = Field(default=None, max_length=256, description="ignored")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32")


class EmbeddingsUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingsUsage
