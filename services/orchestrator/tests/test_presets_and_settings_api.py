"""Presets and a conversation's chat settings over the internal API (real MongoDB): checked against
the served models, and scoped to their user: another user's private preset is a 404, a published
one read-only."""

import httpx
import pytest
from alice_orchestrator.model_health import KEEP_S, ModelHealth
from alice_orchestrator.model_list import ExtraModel
from alice_orchestrator.providers.fake import FakeProvider
from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, default_model
from alice_orchestrator.settings import Settings

pytestmark = pytest.mark.integration


def params(user: str) -> dict:
    return {"user_id": user}


async def test_a_conversations_settings_are_checked_stored_and_replaced_as_a_whole(client):
    created = await client.post(
        "/internal/conversations", params=params("alice"), json={"settings": {"temperature": 0.9}}
    )
    assert created.status_code == 201 and created.json()["settings"]["temperature"] == 0.9
    url = f"/internal/conversations/{created.json()['id']}"
    changed = await client.patch(
        url, params=params("alice"), json={"settings": {"model": "fake", "system_prompt": "Be brief."}}
    )
    assert changed.status_code == 200, changed.text
    settings = changed.json()["settings"]
    expected = {"model": "fake", "system_prompt": "Be brief.", "temperature": None, "max_tokens": None}
    assert settings == expected
    assert (await client.get(url, params=params("alice"))).json()["settings"] == settings

    for body, code in (
        ({"settings": {"model": "nope"}}, "model_not_found"),
        ({"settings": {"max_tokens": 1025}}, "max_tokens_too_large"),  # half of 2048
        ({"settings": {"system_prompt": "   "}}, "validation_error"),
        ({"settings": {"temperature": 2.5}}, "validation_error"),
        ({"settings": {"temperature": "hot"}}, "validation_error"),
        ({"settings": {"colour": "red"}}, "validation_error"),
    ):
        refused = await client.patch(url, params=params("alice"), json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), body
    stolen = await client.patch(url, params=params("mallory"), json={"settings": {}})
    assert stolen.status_code == 404
    assert (await client.get(url, params=params("alice"))).json()["settings"] == settings


async def test_presets_are_their_owners_and_published_ones_are_read_only_for_the_others(client):
    async def create(user: str, name: str, published: bool = False) -> dict:
        body = {"name": name, "settings": {"temperature": 0.1}, "published": published}
        response = await client.post("/internal/presets", params=params(user), json=body)
        assert response.status_code == 201, response.text
        return response.json()

    mine = await create("alice", "  Terse   writer ")
    assert mine["name"] == "Terse writer" and mine["mine"] and not mine["published"]
    secret = await create("bob", "Bob's own")
    shared = await create("admin", "House style", published=True)

    listed = (await client.get("/internal/presets", params=params("alice"))).json()["items"]
    assert [(p["name"], p["mine"]) for p in listed] == [("Terse writer", True), ("House style", False)]
    bobs = (await client.get("/internal/presets", params=params("bob"))).json()["items"]
    assert [p["name"] for p in bobs] == ["Bob's own", "House style"]

    for method, body in (("GET", None), ("PATCH", {"name": "mine now"}), ("DELETE", None)):
        response = await client.request(
            method, f"/internal/presets/{secret['id']}", params=params("alice"), json=body
        )
        assert (response.status_code, response.json()["error"]["code"]) == (404, "preset_not_found"), method
    for method, body in (("PATCH", {"name": "mine now"}), ("DELETE", None)):
        response = await client.request(
            method, f"/internal/presets/{shared['id']}", params=params("alice"), json=body
        )
        assert (response.status_code, response.json()["error"]["code"]) == (403, "preset_read_only"), method
    assert (await client.get(f"/internal/presets/{shared['id']}", params=params("alice"))).status_code == 200

    renamed = await client.patch(
        f"/internal/presets/{mine['id']}",
        params=params("alice"),
        json={"name": "Short", "settings": {"model": "fake", "max_tokens": 100}},
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["settings"]["max_tokens"]) == ("Short", 100)
    refused = await client.patch(
        f"/internal/presets/{mine['id']}", params=params("alice"), json={"settings": {"model": "nope"}}
    )
    assert refused.json()["error"]["code"] == "model_not_found"
    deleted = await client.delete(f"/internal/presets/{mine['id']}", params=params("alice"))
    assert deleted.status_code == 204
    left = (await client.get("/internal/presets", params=params("alice"))).json()["items"]
    assert [p["name"] for p in left] == ["House style"]
    bob_left = (await client.get("/internal/presets", params=params("bob"))).json()["items"]
    assert [p["name"] for p in bob_left] == ["Bob's own", "House style"]


async def test_a_users_presets_go_with_their_data(client):
    body = {"name": "p", "settings": {}}
    await client.post("/internal/presets", params=params("leaving"), json=body)
    await client.store.delete_user("leaving")
    assert (await client.get("/internal/presets", params=params("leaving"))).json()["items"] == []


async def test_an_endpoints_health_is_probed_once_per_few_seconds():
    probes: list[str] = []
    up = {"answer": 503}

    def answer(request: httpx.Request) -> httpx.Response:
        probes.append(str(request.url))
        return httpx.Response(up["answer"], json={"data": []})

    entry = ExtraModel(name="remote", base_url="http://remote:8000/v1", context_tokens=4096)
    settings = Settings(llm_provider="fake", llm_models=[entry])
    remote = ServedModel("remote", FakeProvider(), 4096, 256)
    models = ModelRegistry(default_model(settings, FakeProvider()), [remote])
    now = {"t": 0.0}
    health = ModelHealth(settings, models, clock=lambda: now["t"], transport=httpx.MockTransport(answer))

    assert await health.available(models.default)  # in process: never probed
    assert not await health.available(remote) and not await health.available(remote)
    assert probes == ["http://remote:8000/v1/models"]
    up["answer"] = 200
    now["t"] = KEEP_S + 0.1
    assert await health.available(remote) and len(probes) == 2
    await health.close()
