"""Accounts through the HTTP API (in-process app, real Redis and MongoDB)."""

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import pytest


async def test_register_login_me_and_duplicate_email(backend):
    auth = await backend.register("Ann@Example.com")
    assert auth["token_type"] == "bearer" and auth["expires_in"] > 0 and auth["refresh_token"]
    assert auth["user"]["email"] == "Ann@Example.com" and auth["user"]["is_admin"] is False
    again = await backend.client.post(
        "/api/auth/register", json={"email": "ann@EXAMPLE.com", "password": "another password"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "email_taken"
    login = await backend.client.post(
        "/api/auth/login", json={"email": "ANN@example.com", "password": "correct horse battery"}
    )
    assert login.status_code == 200
    me = await backend.client.get("/api/me", headers=backend.bearer(login.json()))
    assert me.status_code == 200 and me.json()["id"] == auth["user"]["id"]
    cookie = login.headers["set-cookie"]
    assert "alice_refresh=" in cookie and "HttpOnly" in cookie and "Path=/api/auth" in cookie
    assert "samesite=strict" in cookie.lower()


async def test_wrong_password_and_unknown_account_look_the_same(backend):
    await backend.register("bob@example.com")
    wrong = await backend.client.post(
        "/api/auth/login", json={"email": "bob@example.com", "password": "nope-nope"}
    )
    unknown = await backend.client.post(
        "/api/auth/login", json={"email": "zed@example.com", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": {"code": "invalid_credentials", "message": "wrong email or password"}}
    )


async def test_admin_is_granted_out_of_band_never_by_the_email_chosen(backend, settings):
    claimed = await backend.register("admin@example.com")
    assert claimed["user"]["is_admin"] is False
    stats = await backend.client.get("/api/admin/stats", headers=backend.bearer(claimed))
    assert stats.status_code == 403 and stats.json()["error"]["code"] == "forbidden"

    env = os.environ | {"MONGODB_URL": settings.mongodb_url, "MONGODB_DATABASE": settings.mongodb_database}

    async def admin_cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "alice_backend", "admin", *args]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True)

    granted = await admin_cli("grant", "Admin@Example.com")
    assert granted.returncode == 0, granted.stderr
    me = await backend.client.get("/api/me", headers=backend.bearer(claimed))
    assert me.json()["is_admin"] is True
    assert (await admin_cli("list")).stdout.split() == ["admin@example.com"]
    missing = await admin_cli("grant", "nobody@example.com")
    assert missing.returncode == 1 and "sign up first" in missing.stdout
    assert (await admin_cli("revoke", "admin@example.com")).returncode == 0
    stats = await backend.client.get("/api/admin/stats", headers=backend.bearer(claimed))
    assert stats.status_code == 403


async def test_look_alike_emails_are_one_account_or_refused(backend):
    await backend.register("alice@example.com")
    fullwidth = await backend.client.post(
        "/api/auth/register",
        json={"email": "\uff21\uff2c\uff29\uff23\uff25@example.com", "password": "correct horse battery"},
    )
    assert fullwidth.status_code == 409 and fullwidth.json()["error"]["code"] == "email_taken"
    login = await backend.client.post(
        "/api/auth/login",
        json={"email": "\uff41\uff4c\uff49\uff43\uff45@EXAMPLE.com", "password": "correct horse battery"},
    )
    assert login.status_code == 200, login.text
    for spoof in (
        "\u0430lice@example.com",
        "al\u200bice@example.com",
        "alice@ex\u0430mple.com",
    ):  # Cyrillic a, ZWSP
        refused = await backend.client.post(
            "/api/auth/register", json={"email": spoof, "password": "correct horse battery"}
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_email", spoof


async def test_refresh_rotates_and_reuse_revokes(backend):
    auth = await backend.register()
    first = auth["refresh_token"]
    rotated = await backend.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    reuse = await backend.client.post("/api/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "invalid_refresh_token"
    # The leak revoked the family, so the legitimate newest token is dead too.
    assert (await backend.client.post("/api/auth/refresh", json={"refresh_token": second})).status_code == 401


async def test_a_failed_account_lookup_does_not_use_the_refresh_token_up(backend, monkeypatch):
    auth = await backend.register()
    token = auth["refresh_token"]

    async def store_down(user_id):
        raise ConnectionError("MongoDB election")

    with monkeypatch.context() as patched:
        patched.setattr(backend.ctx.users, "by_id", store_down)
        with pytest.raises(ConnectionError):
            await backend.client.post("/api/auth/refresh", json={"refresh_token": token})
    retried = await backend.client.post("/api/auth/refresh", json={"refresh_token": token})
    assert retried.status_code == 200, retried.text  # not "already used; session revoked"


async def test_refresh_from_cookie_and_logout_revokes(backend):
    auth = await backend.register()
    backend.client.cookies.set("alice_refresh", auth["refresh_token"], path="/api/auth")
    via_cookie = await backend.client.post("/api/auth/refresh")
    assert via_cookie.status_code == 200, via_cookie.text
    token = via_cookie.json()["refresh_token"]
    backend.client.cookies.clear()
    assert (await backend.client.post("/api/auth/logout", json={"refresh_token": token})).status_code == 204
    after = await backend.client.post("/api/auth/refresh", json={"refresh_token": token})
    assert after.status_code == 401


async def test_patch_me(backend):
    auth = await backend.register()
    response = await backend.client.patch(
        "/api/me",
        headers=backend.bearer(auth),
        json={"display_name": " Ann ", "settings": {"memory_enabled": False}},
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ann" and response.json()["settings"] == {
        "memory_enabled": False,
        "theme": "system",
        "default_model": None,
        "default_preset_id": None,
    }
    bad = await backend.client.patch("/api/me", headers=backend.bearer(auth), json={"display_name": "   "})
    assert bad.status_code == 422


async def test_login_is_rate_limited_per_account(backend):
    email = f"carol-{uuid.uuid4().hex[:8]}@example.com"
    await backend.register(email)
    backend.ctx.settings.login_rate_per_account_capacity = 3
    statuses = [
        (await backend.client.post("/api/auth/login", json={"email": email, "password": "wrong-pw"}))
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 401, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1


async def test_wrong_passwords_from_one_client_do_not_lock_the_owner_out(backend):
    email = f"dora-{uuid.uuid4().hex[:8]}@example.com"
    await backend.register(email, password="the right password")
    backend.ctx.settings.login_rate_per_account_per_s = 0.001  # no refill while the test runs
    attacker = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=backend.app, client=("203.0.113.66", 4000)),
        base_url="http://backend",
    )
    async with attacker:
        guesses = [
            (await attacker.post("/api/auth/login", json={"email": email, "password": f"x{i}"})).status_code
            for i in range(11)
        ]
    assert guesses == [401] * 10 + [429]
    right = {"email": email, "password": "the right password"}
    owner = await backend.client.post("/api/auth/login", json=right)
    assert owner.status_code == 200, owner.text


async def test_only_failed_logins_count(backend):
    email = f"eve-{uuid.uuid4().hex[:8]}@example.com"
    await backend.register(email, password="the right password")
    backend.ctx.settings.login_rate_per_account_capacity = 3
    backend.ctx.settings.login_rate_per_account_per_s = 0.001
    right = {"email": email, "password": "the right password"}
    for _ in range(5):
        assert (await backend.client.post("/api/auth/login", json=right)).status_code == 200
    wrong = {"email": email, "password": "wrong-pw"}
    assert (await backend.client.post("/api/auth/login", json=wrong)).status_code == 401


async def test_concurrent_registrations_of_one_email_create_one_account(backend):
    results = await asyncio.gather(
        *(
            backend.client.post(
                "/api/auth/register", json={"email": "race@example.com", "password": "p" * 10}
            )
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]


async def test_registration_is_rate_limited_per_address(backend):
    backend.ctx.settings.register_rate_per_ip_capacity = 2
    backend.ctx.settings.register_rate_per_ip_per_s = 0.001
    await backend.ctx.redis.delete("rl:register-ip:127.0.0.1")
    first = await backend.client.post(
        "/api/auth/register", json={"email": "r1@example.com", "password": "p" * 10}
    )
    second = await backend.client.post(
        "/api/auth/register", json={"email": "r2@example.com", "password": "p" * 10}
    )
    third = await backend.client.post(
        "/api/auth/register", json={"email": "r3@example.com", "password": "p" * 10}
    )
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 429)
    await backend.ctx.redis.delete("rl:register-ip:127.0.0.1")


async def test_probing_for_taken_emails_is_charged_to_the_site_wide_sign_up_limit(backend):
    """Sign-up answers 409 `email_taken`, accepted and bounded
    (docs/decisions/0015-accounts-sign-up-and-login.md): every probe, from any address, spends the
    site-wide allowance like a sign-up does."""
    backend.ctx.settings.max_registrations_per_hour = 3  # this test's site (its own database)
    taken = f"known-{uuid.uuid4().hex[:8]}@example.com"
    await backend.register(taken)

    async def probe(address: str) -> int:
        transport = httpx.ASGITransport(app=backend.app, client=(address, 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            body = {"email": taken, "password": "pw-0123456789"}
            return (await client.post("/api/auth/register", json=body)).status_code

    assert [await probe(f"198.51.100.{i}") for i in range(3)] == [409, 409, 429]
