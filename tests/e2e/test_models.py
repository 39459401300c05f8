"""Several models (decision 0051): the orchestrator serves its built-in default (here the
pipeline-only fake) and, through `LLM_MODELS`, a second model at another OpenAI-compatible
endpoint (llama-cpp-python's server with the bundled SmolLM2, the root conftest's `llama_server`).
Through the public `/v1`: both are listed, and a completion naming the second is answered by it."""

import json

import httpx
import pytest

from tests.support.stack import UNTHROTTLED, Stack, isolation, register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

# What the fake default model always begins with (alice_orchestrator/providers/fake.py).
FAKE_REPLY_START = "Alice is answering"
QUESTION = [{"role": "user", "content": "Name three colours."}]


async def complete(api: httpx.AsyncClient, auth: dict[str, str], model: str) -> dict:
    response = await api.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": model, "messages": QUESTION, "max_tokens": 16, "temperature": 0},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_v1_lists_both_models_and_the_second_answers_under_its_name(infra, llama_server):
    second = {
        "name": llama_server.model,
        "base_url": llama_server.url,
        "context_tokens": 2048,
        "max_tokens": 24,
    }
    orchestrator = dict(
        llm_provider="fake",
        llm_fake_token_interval_ms=1,
        llm_models=json.dumps([second]),
        ready_timeout_s=120,
    )
    with Stack(infra, isolation("models"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        async with httpx.AsyncClient(base_url=up["backend"].url, timeout=180) as api:
            auth = await register(api, "models")

            listed = await api.get("/v1/models", headers=auth)
            assert listed.status_code == 200, listed.text
            assert [m["id"] for m in listed.json()["data"]] == ["fake", llama_server.model]
            app_list = (await api.get("/api/models", headers=auth)).json()["items"]
            assert [(m["id"], m["default"]) for m in app_list] == [
                ("fake", True),
                (llama_server.model, False),
            ]
            assert (await api.get(f"/v1/models/{llama_server.model}", headers=auth)).status_code == 200

            by_default = await complete(api, auth, "fake")
            assert by_default["model"] == "fake"
            assert by_default["choices"][0]["message"]["content"].startswith(FAKE_REPLY_START)

            by_second = await complete(api, auth, llama_server.model)
            assert by_second["model"] == llama_server.model
            text = by_second["choices"][0]["message"]["content"]
            # Words of the real model behind the second endpoint, not the fake's fixed ones.
            assert text.strip() and not text.startswith(FAKE_REPLY_START), text
            assert 1 <= by_second["usage"]["completion_tokens"] <= 16

            unknown = await api.post(
                "/v1/chat/completions", headers=auth, json={"model": "not-served", "messages": QUESTION}
            )
            assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
