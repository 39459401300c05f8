"""all-MiniLM-L6-v2 embeddings: catches a broken tokenizer, pooling, normalisation or runtime."""

import json

import httpx
import numpy as np
import pytest
from alice_common.embeddings import EMBEDDING_DIM, EmbeddingError, EmbeddingSettings, get_embedder
from alice_common.embeddings import tokenizer as tok
from alice_common.embeddings.openai_provider import OpenAIEmbedder

PARAPHRASES = [
    ("A man is playing a guitar.", "Someone plays an acoustic guitar."),
    ("How do I reset my password?", "I forgot my login credentials and need new ones."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("What is the capital of France?", "Which city is France's capital?"),
    ("The invoice is due at the end of the month.", "Payment for the bill must be made by month end."),
]
UNRELATED = [
    ("A man is playing a guitar.", "The invoice is due at the end of the month."),
    ("How do I reset my password?", "The cat is sleeping on the sofa."),
    ("What is the capital of France?", "Someone plays an acoustic guitar."),
    ("A kitten naps on the couch.", "Payment for the bill must be made by month end."),
    ("Which city is France's capital?", "I forgot my login credentials and need new ones."),
]
# int8 weights against float32 weights of the same model: measured cosine ≥ 0.9995 per sentence.
RUNTIME_MIN_COSINE = 0.995


@pytest.fixture(scope="module")
def onnx():
    return get_embedder(EmbeddingSettings(embeddings_runtime="onnx"))


@pytest.fixture(scope="module")
def numpy_ref():
    return get_embedder(EmbeddingSettings(embeddings_runtime="numpy"))


def _pair_scores(embedder, pairs):
    left = embedder.embed([a for a, _ in pairs])
    right = embedder.embed([b for _, b in pairs])
    return (left * right).sum(axis=1)


def test_tokenizer_is_bert_uncased_wordpiece():
    ids, mask, types = tok.encode_batch(["Hello World", "hello"])
    assert ids[0].tolist() == [101, 7592, 2088, 102]  # [CLS] hello world [SEP], lower-cased
    assert ids[1].tolist() == [101, 7592, 102, 0]  # padded to the batch's longest
    assert mask[1].tolist() == [1, 1, 1, 0]
    assert types.sum() == 0
    assert tok.count_tokens("unbelievably tokenized") > 2  # word pieces, not words


def test_long_text_is_cut_at_the_model_limit():
    ids, _, _ = tok.encode_batch(["word " * 1000])
    assert ids.shape[1] == tok.MAX_SEQ_LENGTH


@pytest.mark.parametrize("runtime", ["onnx", "numpy_ref"])
def test_vectors_are_unit_length_384d_float32(runtime, request):
    embedder = request.getfixturevalue(runtime)
    vectors = embedder.embed(["short", "a somewhat longer sentence about databases", ""])
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, EMBEDDING_DIM)


@pytest.mark.parametrize("runtime", ["onnx", "numpy_ref"])
def test_paraphrases_score_clearly_above_unrelated_pairs(runtime, request):
    embedder = request.getfixturevalue(runtime)
    para = _pair_scores(embedder, PARAPHRASES)
    unrelated = _pair_scores(embedder, UNRELATED)
    assert para.min() > 0.5, para
    assert unrelated.max() < 0.3, unrelated
    assert para.min() - unrelated.max() > 0.3


def test_padding_does_not_change_a_vector(onnx):
    """Mean pooling must ignore padding: a text embeds the same alone and beside a long one."""
    text = "Kafka keeps the offsets of each consumer group."
    alone = onnx.embed([text])[0]
    batched = onnx.embed([text, "a much longer neighbour " * 30])[0]
    assert float(alone @ batched) > 0.9999


def test_batches_keep_input_order(onnx):
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(70)]
    together = onnx.embed(texts)
    one_by_one = np.concatenate([onnx.embed([t]) for t in texts[:5]])
    np.testing.assert_allclose(together[:5], one_by_one, atol=1e-4)


def test_int8_onnx_and_float_numpy_agree(onnx, numpy_ref):
    texts = [a for a, _ in PARAPHRASES] + [b for _, b in PARAPHRASES]
    cos = (onnx.embed(texts) * numpy_ref.embed(texts)).sum(axis=1)
    assert cos.min() >= RUNTIME_MIN_COSINE, cos


async def test_aembed_matches_embed(onnx):
    texts = ["first", "second text"]
    np.testing.assert_allclose(await onnx.aembed(texts), onnx.embed(texts), atol=1e-6)


def test_get_embedder_shares_one_local_model():
    assert get_embedder(EmbeddingSettings()) is get_embedder(EmbeddingSettings())


def _endpoint(dim=EMBEDDING_DIM, seen=None):
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if seen is not None:
            seen.append((request.url.path, request.headers.get("authorization"), body))
        # Answer out of order: the client must sort by index.
        data = [{"index": i, "embedding": [float(i + 1)] * dim} for i in range(len(body["input"]))]
        return httpx.Response(200, json={"data": list(reversed(data))})

    return httpx.MockTransport(handle)


def test_openai_provider_posts_batches_and_normalises():
    seen = []
    embedder = OpenAIEmbedder(
        "http://emb.local/v1", "mini", api_key="k", batch_size=2, transport=_endpoint(seen=seen)
    )
    vectors = embedder.embed(["a", "b", "c"])
    assert vectors.shape == (3, EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert [s[0] for s in seen] == ["/v1/embeddings", "/v1/embeddings"]
    assert seen[0][1] == "Bearer k"
    assert seen[0][2] == {"model": "mini", "input": ["a", "b"]}


def test_openai_provider_rejects_wrong_dimension():
    embedder = OpenAIEmbedder("http://emb.local", "big", transport=_endpoint(dim=1536))
    with pytest.raises(EmbeddingError, match="shape"):
        embedder.embed(["a"])


def test_get_embedder_picks_openai_from_settings():
    settings = EmbeddingSettings(
        embeddings_provider="openai", embeddings_base_url="http://x:1/v1", embeddings_model="m"
    )
    embedder = get_embedder(settings)
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.url == "http://x:1/v1/embeddings"


async def test_batching_embedder_coalesces_concurrent_requests(onnx):
    import asyncio

    from alice_common.embeddings import BatchingEmbedder

    calls = []

    class Counting(type(onnx)):
        def __init__(self):
            self.__dict__.update(onnx.__dict__)

        def embed(self, texts):
            calls.append(len(texts))
            return super().embed(texts)

    batcher = BatchingEmbedder(Counting())
    texts = [f"request {i} about subject {i}" for i in range(12)]
    results = await asyncio.gather(*(batcher.aembed([t]) for t in texts))
    await batcher.aclose()
    expected = onnx.embed(texts)
    for i, vector in enumerate(results):
        np.testing.assert_allclose(vector[0], expected[i], atol=1e-4)
    assert len(calls) < len(texts)  # fewer model calls than requests
