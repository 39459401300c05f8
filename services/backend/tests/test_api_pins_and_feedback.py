"""Pinning and archiving conversations, and feedback on replies: the public routes validate, pass
the caller's id on, and another user's ids answer 404 (the orchestrator fake checks ownership)."""


async def _conversation(backend, auth) -> str:
    response = await backend.client.post(
        "/api/conversations", headers=backend.bearer(auth), json={"title": "t"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _listed(backend, auth, **params) -> list[str]:
    response = await backend.client.get("/api/conversations", headers=backend.bearer(auth), params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


async def test_patch_takes_any_of_title_pinned_archived_and_archived_ones_are_listed_apart(backend):
    owner, other = await backend.register(), await backend.register()
    cid = await _conversation(backend, owner)
    url = f"/api/conversations/{cid}"

    pinned = await backend.client.patch(url, headers=backend.bearer(owner), json={"pinned": True})
    assert pinned.status_code == 200, pinned.text
    assert (pinned.json()["pinned"], pinned.json()["archived"], pinned.json()["title"]) == (True, False, "t")
    for body in (
        {},
        {"title": "   "},
        {"pinned": "yes"},
        {"pinned": 1},
        {"archived": None},
        {"colour": "red"},
    ):
        refused = await backend.client.patch(url, headers=backend.bearer(owner), json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["code"] == "validation_error"

    stolen = await backend.client.patch(url, headers=backend.bearer(other), json={"archived": True})
    assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "conversation_not_found")
    assert await _listed(backend, owner) == [cid]

    archived = await backend.client.patch(url, headers=backend.bearer(owner), json={"archived": True})
    assert archived.json()["archived"] is True
    assert await _listed(backend, owner) == []
    assert await _listed(backend, owner, archived="true") == [cid]
    assert await _listed(backend, other, archived="true") == []


async def test_feedback_is_given_replaced_and_cleared_by_the_owner_only(backend):
    owner, other = await backend.register(), await backend.register()
    cid = await _conversation(backend, owner)
    reply = "a" * 32
    backend.orchestrator.replies[reply] = (owner["user"]["id"], cid)
    url = f"/api/conversations/{cid}/messages/{reply}/feedback"

    given = await backend.client.put(
        url, headers=backend.bearer(owner), json={"rating": "up", "comment": " ok "}
    )
    assert given.status_code == 200, given.text
    assert (given.json()["rating"], given.json()["comment"]) == ("up", "ok")
    replaced = await backend.client.put(url, headers=backend.bearer(owner), json={"rating": "down"})
    assert replaced.json()["rating"] == "down" and backend.orchestrator.feedback[reply].rating == "down"

    for body in (
        {"rating": "meh"},
        {"rating": "up", "comment": "x" * 2001},
        {"comment": "hi"},
        {"rating": "up", "x": 1},
    ):
        refused = await backend.client.put(url, headers=backend.bearer(owner), json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "validation_error"), body

    for method in ("PUT", "DELETE"):
        stolen = await backend.client.request(
            method, url, headers=backend.bearer(other), json={"rating": "up"}
        )
        assert (stolen.status_code, stolen.json()["error"]["code"]) == (404, "conversation_not_found"), method
    assert backend.orchestrator.feedback[reply].rating == "down"
    not_an_id = f"/api/conversations/{cid}/messages/not-an-id/feedback"
    assert (
        await backend.client.put(not_an_id, headers=backend.bearer(owner), json={"rating": "up"})
    ).status_code == 404

    cleared = await backend.client.delete(url, headers=backend.bearer(owner))
    assert cleared.status_code == 204 and reply not in backend.orchestrator.feedback


async def test_feedback_statistics_are_for_admins_only(backend):
    user, admin = await backend.register(), await backend.register()
    await backend.ctx.db["users"].update_one({"_id": admin["user"]["id"]}, {"$set": {"is_admin": True}})
    refused = await backend.client.get("/api/admin/feedback", headers=backend.bearer(user))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    stats = await backend.client.get("/api/admin/feedback", headers=backend.bearer(admin))
    assert stats.status_code == 200, stats.text
    assert stats.json()["models"] == [{"model": "test-model", "up": 3, "down": 1, "up_share": 0.75}]
    assert [c["comment"] for c in stats.json()["latest_comments"]] == ["wrong"]
