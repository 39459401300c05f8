"""`DELETE /api/me`: the account and every credential of it refused at once, `UserDeleted`
published for the other services, the backend's own data gone (in-process app, real Redis,
MongoDB and Kafka)."""

import json

from alice_common import deleted_users, topics

PASSWORD = "correct horse battery"


async def delete_me(backend, auth: dict, password: str = PASSWORD):
    return await backend.client.request(
        "DELETE", "/api/me", json={"password": password}, headers=backend.bearer(auth)
    )


async def test_a_wrong_password_is_refused_and_changes_nothing(backend):
    auth = await backend.register()
    wrong = await delete_me(backend, auth, "not my password")
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_password"
    assert (await backend.client.get("/api/me", headers=backend.bearer(auth))).status_code == 200
    missing = await backend.client.request("DELETE", "/api/me", json={}, headers=backend.bearer(auth))
    assert missing.status_code == 422


async def test_wrong_passwords_are_rate_limited_like_logins(backend):
    auth = await backend.register()
    codes = [(await delete_me(backend, auth, "guess")).status_code for _ in range(12)]
    assert codes[0] == 403 and codes[-1] == 429


async def test_deleting_refuses_every_credential_and_publishes_user_deleted(backend, redis):
    auth = await backend.register()
    user_id, email = auth["user"]["id"], auth["user"]["email"]
    key = await backend.client.post("/api/keys", json={"name": "ci"}, headers=backend.bearer(auth))
    secret = key.json()["secret"]
    with_key = {"Authorization": f"Bearer {secret}"}
    assert (await backend.client.get("/api/me", headers=with_key)).status_code == 200
    other = await backend.register()

    deleted = await delete_me(backend, auth)
    assert deleted.status_code == 202, deleted.text
    assert deleted.json()["status"] == "deleting" and "signed out" in deleted.json()["message"]

    for token in (auth["access_token"], secret):
        refused = await backend.client.get("/api/conversations", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401, token
    login = await backend.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401 and login.json()["error"]["code"] == "invalid_credentials"
    refresh = await backend.client.post("/api/auth/refresh", json={"refresh_token": auth["refresh_token"]})
    assert refresh.status_code == 401

    (record,) = await backend.published(topics.USERS_DELETED)
    assert record.key == user_id.encode()
    event = json.loads(record.value)
    assert (event["type"], event["user_id"]) == ("UserDeleted", user_id)
    db = backend.ctx.db
    assert await db["users"].find_one({"_id": user_id}) is None
    assert await db["api_keys"].find_one({"user_id": user_id}) is None
    assert await deleted_users.is_deleted(db, user_id)
    assert [key async for key in redis.scan_iter(match=f"*{user_id}*")] == []
    sessions = [key async for key in redis.scan_iter(match="refresh*")]
    assert [key for key in sessions if user_id in str(await _value(redis, key))] == []
    # The other account is untouched.
    assert (await backend.client.get("/api/me", headers=backend.bearer(other))).status_code == 200
    # The email is free again, for a new account with a new id.
    again = await backend.register(email)
    assert again["user"]["id"] != user_id


async def _value(redis, key: str):
    return await (redis.hgetall(key) if await redis.type(key) == "hash" else redis.get(key))


async def test_the_last_admin_cannot_delete_their_account(backend):
    auth = await backend.register()
    await backend.ctx.users.set_admin(auth["user"]["email"].lower(), True)
    refused = await delete_me(backend, auth)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "last_admin"
    assert (await backend.client.get("/api/me", headers=backend.bearer(auth))).status_code == 200
    second = await backend.register()
    await backend.ctx.users.set_admin(second["user"]["email"].lower(), True)
    assert (await delete_me(backend, auth)).status_code == 202


async def test_signing_in_to_an_account_whose_deletion_was_cut_short_finishes_it(backend):
    auth = await backend.register()
    user_id, email = auth["user"]["id"], auth["user"]["email"]
    # What a crash right after the tombstone leaves: the tombstone beside a live account.
    await deleted_users.record(backend.ctx.db, user_id)
    login = await backend.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 401
    assert await backend.ctx.db["users"].find_one({"_id": user_id}) is None
    (record,) = await backend.published(topics.USERS_DELETED)
    assert record.key == user_id.encode()


async def test_a_failed_publish_keeps_the_deletion_and_the_sweeper_finishes_it(backend, monkeypatch):
    """A send that fails or times out may still have reached Kafka: the account stays deleted
    (refused at once), and the sweeper publishes again and purges it."""
    auth = await backend.register()
    user_id = auth["user"]["id"]
    producer = backend.ctx.producer

    async def broker_down(*args, **kwargs):
        raise TimeoutError("no answer from the broker")

    monkeypatch.setattr(producer, "send", broker_down)
    answer = await delete_me(backend, auth)
    assert answer.status_code == 202, answer.text
    assert (await backend.client.get("/api/me", headers=backend.bearer(auth))).status_code == 401
    assert await backend.ctx.db["users"].find_one({"_id": user_id}) is not None
    assert await backend.ctx.account_deletion.finish_pending(older_than_s=0) == 0  # still down

    monkeypatch.undo()
    assert await backend.ctx.account_deletion.finish_pending(older_than_s=0) == 1
    assert await backend.ctx.db["users"].find_one({"_id": user_id}) is None
    (record,) = await backend.published(topics.USERS_DELETED)
    assert record.key == user_id.encode()
