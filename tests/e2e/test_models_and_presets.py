"""The model picker's and presets' server side (issue 27, decision 0066) against real processes:
backend + orchestrator (the pipeline-only fake as the default model, and an `LLM_MODELS` entry
whose endpoint is down) over Kafka, Redis and MongoDB.

Covers: a conversation's settings are used for its replies (reply length, system prompt) and read
back after a "reload" (a fresh GET); a model whose endpoint is down is listed unavailable and a
reply asked of it fails at once with `model_unavailable`; presets are applied at creation, by
default, and are out of reach of another user."""

import json
from collections.abc import Iterator

import httpx
import pytest
from alice_common.reply_stream import DONE, FAILED

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

# Nothing listens on port 9: the endpoint of this model is down.
OFFLINE = {
    "name": "offline-model",
    "base_url": "http://127.0.0.1:9/v1",
    "context_tokens": 2048,
    "max_tokens": 24,
}
LONG_PROMPT = "You are a ship's cook who answers every question with a recipe. " * 20


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    orchestrator = dict(
        llm_provider="fake", llm_fake_token_interval_ms=1, llm_max_tokens=12, llm_models=json.dumps([OFFLINE])
    )
    with Stack(infra, isolation("presets"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        yield up


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as client:
        yield client


async def reply_to(api, auth, conversation: str) -> dict:
    accepted = await send(api, auth, conversation, "What shall we eat?")
    events = await sse_events(api, accepted["stream_url"], auth)
    assert events[-1]["event"] in (DONE, FAILED), events[-3:]
    return events[-1]


async def settings_of(api, auth, conversation: str) -> dict:
    response = await api.get(f"/api/conversations/{conversation}", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["settings"]


async def test_a_conversations_settings_are_used_for_its_replies_and_kept(api):
    ann = await register(api)
    plain, tuned = await new_conversation(api, ann), await new_conversation(api, ann)
    chosen = {"model": "fake", "system_prompt": LONG_PROMPT.strip(), "temperature": 0.7, "max_tokens": 5}
    changed = await api.patch(f"/api/conversations/{tuned}", headers=ann, json={"settings": chosen})
    assert changed.status_code == 200, changed.text

    default_reply = (await reply_to(api, ann, plain))["data"]["message"]
    tuned_reply = (await reply_to(api, ann, tuned))["data"]["message"]
    # The fake model writes exactly max_tokens tokens: the default's 12, the conversation's 5.
    assert default_reply["usage"]["completion_tokens"] == 12
    assert tuned_reply["usage"]["completion_tokens"] == 5 and tuned_reply["finish_reason"] == "length"
    # The long system prompt went into the prompt instead of the default one.
    assert tuned_reply["usage"]["prompt_tokens"] > default_reply["usage"]["prompt_tokens"] + 100
    assert tuned_reply["model"] == "fake"

    assert await settings_of(api, ann, tuned) == chosen  # as a reload reads it
    second = (await reply_to(api, ann, tuned))["data"]["message"]
    assert second["usage"]["completion_tokens"] == 5
    history = (await api.get(f"/api/conversations/{tuned}/messages", headers=ann)).json()["items"]
    assert [m["model"] for m in history if m["role"] == "assistant"] == ["fake", "fake"]

    refused = await api.patch(
        f"/api/conversations/{tuned}", headers=ann, json={"settings": {"max_tokens": 100_000}}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "validation_error")
    too_long = await api.patch(
        f"/api/conversations/{tuned}", headers=ann, json={"settings": {"max_tokens": 2000}}
    )
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (422, "max_tokens_too_large")
    unknown = await api.patch(
        f"/api/conversations/{tuned}", headers=ann, json={"settings": {"model": "gpt-9"}}
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "model_not_found")
    assert await settings_of(api, ann, tuned) == chosen


async def test_a_model_whose_endpoint_is_down_is_listed_unavailable_and_fails_its_reply_clearly(api):
    bob = await register(api)
    models = (await api.get("/api/models", headers=bob)).json()["items"]
    assert [(m["id"], m["available"]) for m in models] == [("fake", True), ("offline-model", False)]

    conversation = await new_conversation(api, bob)
    picked = await api.patch(
        f"/api/conversations/{conversation}", headers=bob, json={"settings": {"model": "offline-model"}}
    )
    assert picked.status_code == 200
    ended = await reply_to(api, bob, conversation)
    assert ended["event"] == FAILED
    assert ended["data"]["code"] == "model_unavailable" and "offline-model" in ended["data"]["message"]


async def test_presets_apply_to_new_conversations_and_stay_their_owners(api):
    cat, dan = await register(api), await register(api)
    created = await api.post(
        "/api/presets",
        headers=cat,
        json={"name": "Short answers", "settings": {"max_tokens": 3, "system_prompt": "Be brief."}},
    )
    assert created.status_code == 201, created.text
    preset = created.json()

    by_preset = await api.post("/api/conversations", headers=cat, json={"preset_id": preset["id"]})
    assert by_preset.json()["settings"]["max_tokens"] == 3
    reply = (await reply_to(api, cat, by_preset.json()["id"]))["data"]["message"]
    assert reply["usage"]["completion_tokens"] == 3

    assert (
        await api.patch("/api/me", headers=cat, json={"settings": {"default_preset_id": preset["id"]}})
    ).status_code == 200
    by_default = await new_conversation(api, cat)
    assert (await settings_of(api, cat, by_default))["system_prompt"] == "Be brief."

    assert (await api.get("/api/presets", headers=dan)).json()["items"] == []
    for method, body in (("PATCH", {"name": "mine"}), ("DELETE", None)):
        stolen = await api.request(method, f"/api/presets/{preset['id']}", headers=dan, json=body)
        assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "preset_not_found"), method
    applied = await api.post("/api/conversations", headers=dan, json={"preset_id": preset["id"]})
    assert applied.status_code == 404
    not_default = await api.patch(
        "/api/me", headers=dan, json={"settings": {"default_preset_id": preset["id"]}}
    )
    assert (not_default.status_code, not_default.json()["error"]["code"]) == (422, "preset_not_found")
    assert [p["name"] for p in (await api.get("/api/presets", headers=cat)).json()["items"]] == [
        "Short answers"
    ]
