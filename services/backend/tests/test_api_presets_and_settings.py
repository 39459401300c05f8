"""Presets, a conversation's chat settings and the per-user settings: the public routes validate,
let only admins publish, pass the caller's id on, and another user's preset is out of reach (the
orchestrator fake checks ownership like the real one, tested in the orchestrator's tests)."""

PRESET = {"name": "Pirate", "settings": {"system_prompt": "Talk like a pirate.", "temperature": 1.2}}


async def _make_admin(backend, auth) -> None:
    await backend.ctx.db["users"].update_one({"_id": auth["user"]["id"]}, {"$set": {"is_admin": True}})


async def _preset(backend, auth, body=PRESET) -> dict:
    response = await backend.client.post("/api/presets", headers=backend.bearer(auth), json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_presets_are_saved_renamed_and_deleted_by_their_owner_only(backend):
    owner, other = await backend.register(), await backend.register()
    preset = await _preset(backend, owner)
    assert (preset["name"], preset["mine"], preset["published"]) == ("Pirate", True, False)
    url = f"/api/presets/{preset['id']}"

    listed = await backend.client.get("/api/presets", headers=backend.bearer(owner))
    assert [p["name"] for p in listed.json()["items"]] == ["Pirate"]
    others = await backend.client.get("/api/presets", headers=backend.bearer(other))
    assert others.json()["items"] == []
    for method in ("PATCH", "DELETE"):
        stolen = await backend.client.request(method, url, headers=backend.bearer(other), json={"name": "x"})
        assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "preset_not_found"), method

    renamed = await backend.client.patch(url, headers=backend.bearer(owner), json={"name": "Captain"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Captain"
    assert renamed.json()["settings"]["system_prompt"] == "Talk like a pirate."
    for body in (
        {},
        {"name": ""},
        {"name": "x" * 81},
        {"settings": {"temperature": "warm"}},
        {"settings": {"temperature": 3}},
        {"settings": {"max_tokens": 0}},
        {"settings": {"system_prompt": "x" * 4001}},
        {"settings": {"top_k": 3}},
    ):
        refused = await backend.client.patch(url, headers=backend.bearer(owner), json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "validation_error"), body
    assert (await backend.client.delete(url, headers=backend.bearer(owner))).status_code == 204
    gone = await backend.client.delete(url, headers=backend.bearer(owner))
    assert gone.status_code == 404
    not_an_id = await backend.client.patch(
        "/api/presets/x!", headers=backend.bearer(owner), json={"name": "y"}
    )
    assert (not_an_id.status_code, not_an_id.json()["error"]["code"]) == (404, "not_found")


async def test_only_admins_publish_and_a_published_preset_is_read_only_for_everyone_else(backend):
    admin, user = await backend.register(), await backend.register()
    refused = await backend.client.post(
        "/api/presets", headers=backend.bearer(user), json={**PRESET, "published": True}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    own = await _preset(backend, user)
    publish = await backend.client.patch(
        f"/api/presets/{own['id']}", headers=backend.bearer(user), json={"published": True}
    )
    assert publish.status_code == 403

    await _make_admin(backend, admin)
    house = await _preset(backend, admin, {**PRESET, "name": "House style", "published": True})
    assert house["published"] is True
    seen = (await backend.client.get("/api/presets", headers=backend.bearer(user))).json()["items"]
    assert {(p["name"], p["mine"]) for p in seen} == {("Pirate", True), ("House style", False)}
    url = f"/api/presets/{house['id']}"
    for method in ("PATCH", "DELETE"):
        response = await backend.client.request(method, url, headers=backend.bearer(user), json={"name": "x"})
        assert (response.status_code, response.json()["error"]["code"]) == (403, "preset_read_only"), method


async def test_saving_presets_is_rate_limited(backend):
    user = await backend.register()
    backend.ctx.settings = backend.ctx.settings.model_copy(
        update={"preset_rate_capacity": 2, "preset_rate_per_s": 0.001}
    )
    await _preset(backend, user)
    await _preset(backend, user)
    limited = await backend.client.post("/api/presets", headers=backend.bearer(user), json=PRESET)
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")


async def test_a_conversation_takes_a_preset_or_the_users_defaults_and_its_settings_change(backend):
    user, other = await backend.register(), await backend.register()
    headers = backend.bearer(user)
    preset = await _preset(backend, user)
    applied = await backend.client.post(
        "/api/conversations", headers=headers, json={"preset_id": preset["id"]}
    )
    assert applied.status_code == 201
    assert applied.json()["settings"]["system_prompt"] == "Talk like a pirate."
    not_theirs = await backend.client.post(
        "/api/conversations", headers=backend.bearer(other), json={"preset_id": preset["id"]}
    )
    assert (not_theirs.status_code, not_theirs.json()["error"]["code"]) == (404, "preset_not_found")

    plain = await backend.client.post("/api/conversations", headers=headers, json={})
    assert plain.json()["settings"] == {
        "model": None,
        "system_prompt": None,
        "temperature": None,
        "max_tokens": None,
    }

    set_default = await backend.client.patch(
        "/api/me", headers=headers, json={"settings": {"default_model": "org/second-model", "theme": "dark"}}
    )
    assert set_default.status_code == 200, set_default.text
    assert (set_default.json()["settings"]["default_model"], set_default.json()["settings"]["theme"]) == (
        "org/second-model",
        "dark",
    )
    by_model = await backend.client.post("/api/conversations", headers=headers, json={})
    assert by_model.json()["settings"]["model"] == "org/second-model"
    await backend.client.patch(
        "/api/me", headers=headers, json={"settings": {"default_preset_id": preset["id"]}}
    )
    by_preset = await backend.client.post("/api/conversations", headers=headers, json={})
    assert by_preset.json()["settings"]["temperature"] == 1.2

    url = f"/api/conversations/{by_preset.json()['id']}"
    changed = await backend.client.patch(url, headers=headers, json={"settings": {"model": "test-model"}})
    assert changed.status_code == 200
    assert changed.json()["settings"] == {
        "model": "test-model",
        "system_prompt": None,
        "temperature": None,
        "max_tokens": None,
    }
    stolen = await backend.client.patch(url, headers=backend.bearer(other), json={"settings": {}})
    assert stolen.status_code == 404


async def test_user_settings_are_checked(backend):
    user, other = await backend.register(), await backend.register()
    others_preset = await _preset(backend, other)
    for settings, code in (
        ({"default_model": "no-such-model"}, "model_not_found"),
        ({"default_preset_id": others_preset["id"]}, "preset_not_found"),
        ({"theme": "purple"}, "validation_error"),
    ):
        refused = await backend.client.patch(
            "/api/me", headers=backend.bearer(user), json={"settings": settings}
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), settings
    cleared = await backend.client.patch(
        "/api/me", headers=backend.bearer(user), json={"settings": {"default_model": None, "theme": "light"}}
    )
    assert cleared.status_code == 200
    assert cleared.json()["settings"] == {
        "memory_enabled": True,
        "theme": "light",
        "default_model": None,
        "default_preset_id": None,
    }


async def test_the_model_list_says_which_models_are_unavailable(backend):
    user = await backend.register()
    backend.orchestrator.unavailable.add("org/second-model")
    listed = await backend.client.get("/api/models", headers=backend.bearer(user))
    assert [(m["id"], m["available"]) for m in listed.json()["items"]] == [
        ("test-model", True),
        ("org/second-model", False),
    ]
