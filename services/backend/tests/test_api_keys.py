"""Personal API keys: created once, listed by prefix, stored hashed, revoked, scoped to their owner."""

import asyncio
import hashlib
from datetime import UTC, datetime

from alice_backend.auth.api_keys import ApiKeys


def _key_auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _create(backend, auth, name="laptop") -> dict:
    response = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_is_shown_once_listed_by_prefix_and_stored_only_hashed(backend):
    auth = await backend.register()
    created = await _create(backend, auth)
    secret = created["secret"]
    assert secret.startswith("sk-alice-") and len(secret) > 60
    assert secret.startswith(created["key"]["prefix"]) and len(created["key"]["prefix"]) < 30

    listed = (await backend.client.get("/api/keys", headers=backend.bearer(auth))).json()["items"]
    assert [k["id"] for k in listed] == [created["key"]["id"]] and listed[0]["name"] == "laptop"
    assert secret not in str(listed) and "hash" not in listed[0]

    stored = await backend.ctx.db["api_keys"].find_one({"_id": created["key"]["id"]})
    assert secret not in str(stored)
    assert stored["hash"] == hashlib.sha256(secret.encode()).hexdigest()


async def test_a_key_authenticates_as_its_owner_only(backend):
    ada, bob = await backend.register(), await backend.register()
    secret = (await _create(backend, ada))["secret"]
    me = await backend.client.get("/api/me", headers=_key_auth(secret))
    assert me.status_code == 200 and me.json()["id"] == ada["user"]["id"]
    conv = await backend.client.post("/api/conversations", headers=backend.bearer(bob), json={})
    other = await backend.client.get(f"/api/conversations/{conv.json()['id']}", headers=_key_auth(secret))
    assert other.status_code == 404


async def test_revoked_malformed_and_unknown_keys_are_refused(backend):
    auth = await backend.register()
    created = await _create(backend, auth)
    secret = created["secret"]
    assert (await backend.client.get("/api/me", headers=_key_auth(secret))).status_code == 200
    revoked = await backend.client.delete(f"/api/keys/{created['key']['id']}", headers=backend.bearer(auth))
    assert revoked.status_code == 204
    for bad in (secret, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "sk-alice-nope"):
        response = await backend.client.get("/api/me", headers=_key_auth(bad))
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    again = await backend.client.delete(f"/api/keys/{created['key']['id']}", headers=backend.bearer(auth))
    assert again.status_code == 404
    assert (await backend.client.get("/api/keys", headers=backend.bearer(auth))).json()["items"] == []


async def test_only_the_owner_can_revoke_and_a_key_cannot_manage_keys(backend):
    ada, bob = await backend.register(), await backend.register()
    created = await _create(backend, ada)
    stolen = await backend.client.delete(f"/api/keys/{created['key']['id']}", headers=backend.bearer(bob))
    assert stolen.status_code == 404
    assert (await backend.client.get("/api/keys", headers=backend.bearer(bob))).json()["items"] == []
    with_key = await backend.client.post(
        "/api/keys", headers=_key_auth(created["secret"]), json={"name": "x"}
    )
    assert with_key.status_code == 403 and with_key.json()["error"]["code"] == "session_required"


async def test_keys_are_limited_per_user(backend):
    auth = await backend.register()
    limit = backend.ctx.settings.max_api_keys_per_user
    for i in range(limit):
        await _create(backend, auth, f"k{i}")
    over = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "one more"})
    assert over.status_code == 409 and over.json()["error"]["code"] == "too_many_keys"
    blank = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "  "})
    assert blank.status_code == 422


async def test_a_key_revoked_through_another_replica_fails_within_the_cache_time(backend):
    """Two `ApiKeys` over one database stand for two backend replicas."""
    auth = await backend.register()
    created = await _create(backend, auth)
    secret = created["secret"]
    other_replica = ApiKeys(backend.ctx.db, cache_ttl_s=0.5, max_per_user=10)
    assert await other_replica.user_of(secret) == auth["user"]["id"]
    assert await backend.ctx.api_keys.revoke(auth["user"]["id"], created["key"]["id"])
    await asyncio.sleep(0.6)
    assert await other_replica.user_of(secret) is None


async def test_the_query_string_takes_short_lived_tokens_but_never_an_api_key(backend):
    auth = await backend.register()
    secret = (await _create(backend, auth))["secret"]
    stream = "/api/replies/0123456789abcdef01234567/stream"
    refused = await backend.client.get(stream, params={"access_token": secret})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_in_query"
    # An access token there is accepted (the reply does not exist: 404, not 401); the key in the
    # Authorization header too.
    short_lived = {"access_token": auth["access_token"]}
    assert (await backend.client.get(stream, params=short_lived)).status_code == 404
    assert (await backend.client.get(stream, headers=_key_auth(secret))).status_code == 404


async def test_concurrent_creations_never_pass_the_cap_and_the_list_shows_every_key(backend):
    auth = await backend.register()
    cap = backend.ctx.settings.max_api_keys_per_user
    created = await asyncio.gather(
        *(
            backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": f"k{i}"})
            for i in range(12)
        )
    )
    assert sorted(r.status_code for r in created) == [201] * cap + [409] * (12 - cap)
    listed = (await backend.client.get("/api/keys", headers=backend.bearer(auth))).json()["items"]
    assert sorted(k["id"] for k in listed) == sorted(
        r.json()["key"]["id"] for r in created if r.status_code == 201
    )
    # Revoking one frees its place for exactly one new key.
    await backend.client.delete(f"/api/keys/{listed[0]['id']}", headers=backend.bearer(auth))
    again = await asyncio.gather(
        *(
            backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "n"})
            for _ in range(3)
        )
    )
    assert sorted(r.status_code for r in again) == [201, 409, 409]


async def test_the_list_shows_keys_beyond_any_page_size(backend):
    """Keys kept from before a lowered cap (or an older race) are all listed, so all can be revoked."""
    auth = await backend.register()
    user_id = auth["user"]["id"]
    await backend.ctx.db["api_keys"].insert_many(
        [
            {
                "_id": f"old{i:09d}",
                "user_id": user_id,
                "slot": f"legacy-{i}",
                "name": f"old {i}",
                "prefix": "sk-alice-old",
                "hash": f"h-{user_id}-{i}",
                "created_at": datetime.now(UTC),
                "last_used_at": None,
            }
            for i in range(25)
        ]
    )
    listed = (await backend.client.get("/api/keys", headers=backend.bearer(auth))).json()["items"]
    assert len(listed) == 25
    refused = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "one more"})
    assert refused.status_code == 409
