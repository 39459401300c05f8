"""Shared links through the public API: the owner makes, lists and revokes them, anyone reads one
without an account, another user's ids answer 404, only the token's hash leaves the backend, and
the public read is bounded per client address."""

import hashlib

import pytest
from alice_common.wire import ArchivedMessage

WHEN = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"shared_read_rate_per_ip_capacity": 1000, "share_rate_capacity": 1000})


async def _conversation(backend, auth, *contents: str) -> str:
    created = await backend.client.post(
        "/api/conversations", headers=backend.bearer(auth), json={"title": "Rome"}
    )
    cid = created.json()["id"]
    backend.orchestrator.messages[cid] = [
        ArchivedMessage(role="user" if i % 2 == 0 else "assistant", content=c, created_at=WHEN)
        for i, c in enumerate(contents)
    ]
    return cid


async def _share(backend, auth, cid: str):
    return await backend.client.post(f"/api/conversations/{cid}/shares", headers=backend.bearer(auth))


async def test_anyone_reads_a_link_without_an_account_until_its_owner_revokes_it(backend):
    owner, other = await backend.register(), await backend.register()
    cid = await _conversation(backend, owner, "Where to eat?", "Trastevere.")
    created = await _share(backend, owner, cid)
    assert created.status_code == 201, created.text
    link = created.json()
    token = link["token"]
    assert len(token) == 43 and link["url_path"] == f"/s/{token}" and link["message_count"] == 2
    # The orchestrator is given the token's SHA-256, never the token.
    assert list(backend.orchestrator.shares) == [hashlib.sha256(token.encode()).hexdigest()]

    read = await backend.client.get(f"/api/shared/{token}")
    assert read.status_code == 200, read.text
    assert read.headers["cache-control"] == "no-store"
    body = read.json()
    assert body == {
        "title": "Rome",
        "shared_at": WHEN,
        "messages": [
            {"role": "user", "content": "Where to eat?", "created_at": WHEN},
            {"role": "assistant", "content": "Trastevere.", "created_at": WHEN},
        ],
    }
    for private in (owner["user"]["id"], owner["user"]["email"], cid):
        assert private not in read.text

    listed = await backend.client.get(f"/api/conversations/{cid}/shares", headers=backend.bearer(owner))
    assert [s["id"] for s in listed.json()["items"]] == [link["id"]]
    assert token not in listed.text

    # Someone else's conversation or link is not found, and the link keeps working.
    for method, url in (
        ("POST", f"/api/conversations/{cid}/shares"),
        ("GET", f"/api/conversations/{cid}/shares"),
        ("DELETE", f"/api/shares/{link['id']}"),
    ):
        stolen = await backend.client.request(method, url, headers=backend.bearer(other))
        assert stolen.status_code == 404, (method, url, stolen.text)
    assert (await backend.client.get(f"/api/shared/{token}")).status_code == 200

    revoked = await backend.client.delete(f"/api/shares/{link['id']}", headers=backend.bearer(owner))
    assert revoked.status_code == 204
    gone = await backend.client.get(f"/api/shared/{token}")
    assert gone.status_code == 404
    assert gone.json() == {
        "error": {"code": "share_not_found", "message": "this link was revoked or does not exist"}
    }
    again = await backend.client.delete(f"/api/shares/{link['id']}", headers=backend.bearer(owner))
    assert again.status_code == 404


async def test_every_link_has_its_own_token(backend):
    owner = await backend.register()
    cid = await _conversation(backend, owner, "hi")
    tokens = {(await _share(backend, owner, cid)).json()["token"] for _ in range(3)}
    assert len(tokens) == 3


async def test_managing_links_needs_a_session_reading_one_does_not(backend):
    owner = await backend.register()
    cid = await _conversation(backend, owner)
    assert (await backend.client.post(f"/api/conversations/{cid}/shares")).status_code == 401
    assert (await backend.client.get(f"/api/conversations/{cid}/shares")).status_code == 401
    assert (await backend.client.delete(f"/api/shares/{'a' * 32}")).status_code == 401


@pytest.mark.parametrize("token", ["short", "x" * 44, "a" * 42 + "!", "%2e%2e"])
async def test_what_cannot_be_a_token_is_not_found_without_asking_the_orchestrator(backend, token):
    response = await backend.client.get(f"/api/shared/{token}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] in {"share_not_found", "not_found"}
    assert not [c for c in backend.orchestrator.calls if c[0] == "SHARED"]


async def test_an_unknown_token_is_not_found(backend):
    response = await backend.client.get(f"/api/shared/{'b' * 43}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "share_not_found")


async def test_public_reads_are_limited_per_client_address(backend):
    ctx = backend.ctx
    limits = {"shared_read_rate_per_ip_capacity": 2, "shared_read_rate_per_ip_per_s": 0.001}
    ctx.settings = ctx.settings.model_copy(update=limits)
    # Each run of the suite reads from 127.0.0.1: start from a full bucket.
    await ctx.redis.delete("rl:shared-ip:127.0.0.1")
    answers = [(await backend.client.get(f"/api/shared/{'c' * 43}")).status_code for _ in range(3)]
    assert answers == [404, 404, 429]
    limited = await backend.client.get(f"/api/shared/{'c' * 43}")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    await ctx.redis.delete("rl:shared-ip:127.0.0.1")


async def test_making_links_is_limited_per_user(backend):
    ctx = backend.ctx
    ctx.settings = ctx.settings.model_copy(update={"share_rate_capacity": 2, "share_rate_per_s": 0.001})
    owner = await backend.register()
    cid = await _conversation(backend, owner, "hi")
    answers = [(await _share(backend, owner, cid)).status_code for _ in range(3)]
    assert answers == [201, 201, 429]
