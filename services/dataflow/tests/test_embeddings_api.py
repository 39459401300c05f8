"""`/internal/embeddings` with the real local model: unit vectors, token counts, and inputs
longer than the model reads refused (never cut)."""

from types import SimpleNamespace

import numpy as np
from alice_common.app_context import set_app_context
from alice_common.embeddings import get_embedder
from alice_common.errors import install_error_handlers
from alice_dataflow import embeddings_api
from alice_dataflow.settings import Settings
from fastapi import FastAPI
from fastapi.testclient import TestClient


def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(embeddings_api.router)
    embedder = get_embedder(Settings(alice_internal_token="unit-token-long-enough-to-be-a-secret"))
    set_app_context(app, SimpleNamespace(embedder=embedder))
    return TestClient(app)


def test_the_model_is_named_with_its_dimensions_and_input_limit():
    described = client().get("/internal/embeddings/model").json()
    assert described == {"model": "all-MiniLM-L6-v2", "dim": 384, "max_input_tokens": 254}


def test_texts_become_unit_vectors_in_order_with_their_tokens():
    c = client()
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by ten percent.", "A kitten rests on a rug."]
    answer = c.post("/internal/embeddings", params={"user_id": "u1"}, json={"texts": texts}).json()
    vectors = np.array(answer["vectors"])
    assert answer["model"] == "all-MiniLM-L6-v2" and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1]  # the cat is nearer the kitten
    assert answer["tokens"] == [7, 7, 7]


def test_an_input_longer_than_the_model_reads_is_refused_naming_the_limit():
    response = client().post(
        "/internal/embeddings", params={"user_id": "u1"}, json={"texts": ["short", "word " * 300]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "input[1] has 300 tokens" in error["message"] and "254" in error["message"]
