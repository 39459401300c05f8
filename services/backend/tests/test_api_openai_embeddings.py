"""`/v1/embeddings` through the real `openai` SDK against the in-process backend, the dataflow
faked; the real model is covered by services/dataflow/tests/test_embeddings_api.py and
tests/e2e/test_openai_api.py."""

import base64
import struct

import openai
import pytest

MODEL = "all-MiniLM-L6-v2"


async def test_floats_and_base64_give_the_same_vectors_in_order_with_usage(backend, sdk, user):
    as_floats = await sdk.embeddings.create(model=MODEL, input=["a", "b"], encoding_format="float")
    as_base64 = await sdk.embeddings.create(model=MODEL, input=["a", "b"], encoding_format="base64")
    assert [d.embedding for d in as_floats.data] == [[0.5, -0.25, 0.125, 0.0], [0.5, -0.25, 0.125, 1.0]]
    # Asked for explicitly, the SDK hands base64 over as is: little-endian float32.
    decoded = [list(struct.unpack("<4f", base64.b64decode(d.embedding))) for d in as_base64.data]
    assert decoded == [d.embedding for d in as_floats.data]
    # Asked for nothing, the SDK requests base64 and decodes it itself.
    assert [d.embedding for d in (await sdk.embeddings.create(model=MODEL, input=["a", "b"])).data] == decoded
    assert [d.index for d in as_floats.data] == [0, 1]
    assert as_floats.model == MODEL and as_floats.usage.prompt_tokens == as_floats.usage.total_tokens == 6
    assert backend.dataflow.embedded[-1] == (user["id"], ["a", "b"])


async def test_a_single_string_and_the_models_own_dimensions_are_accepted(sdk):
    one = await sdk.embeddings.create(model=MODEL, input="hello", dimensions=4, encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 4


async def test_wrong_model_dimensions_and_inputs_are_openai_errors(backend, sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.embeddings.create(model="text-embedding-3-small", input="x")
    assert caught.value.body["code"] == "model_not_found" and MODEL in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.embeddings.create(model=MODEL, input="x", dimensions=2)
    assert caught.value.body["param"] == "dimensions" and "4-dimensional" in caught.value.body["message"]
    for bad in ([], [""], ["x"] * 257, "y" * 8001, [[1, 2, 3]]):
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.embeddings.create(model=MODEL, input=bad)
        assert caught.value.body["param"] is not None and caught.value.body["param"].startswith("input")
    assert backend.dataflow.embedded == []  # nothing refused reached the model


async def test_embeddings_need_a_key_and_are_rate_limited_with_retry_after(backend, sdk):
    anonymous = await backend.client.post("/v1/embeddings", json={"model": MODEL, "input": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "invalid_request_error"
    backend.ctx.settings.embeddings_rate_capacity = 1
    backend.ctx.settings.embeddings_rate_per_s = 0.01
    await sdk.embeddings.create(model=MODEL, input="x")
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.embeddings.create(model=MODEL, input="x")
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) >= 60
