"""Bad input through the HTTP API: always the JSON error shape with the right 4xx, never a 5xx."""

import pytest
from alice_backend.auth import access_tokens


def _is_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ("[]", 422),
        ('{"email": "x"}', 422),
        ('{"email": "no-at-sign", "password": "long enough"}', 422),
        ('{"email": "a@b.co", "password": "short"}', 422),
        ('{"email": "a@b.co", "password": "long enough", "extra": 1}', 422),
    ],
)
async def test_register_rejects_bad_bodies(backend, body, status):
    response = await backend.client.post(
        "/api/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    _is_error(response, status)


async def test_malformed_json_is_named(backend):
    response = await backend.client.post(
        "/api/auth/login", content=b"{", headers={"Content-Type": "application/json"}
    )
    _is_error(response, 400, "malformed_json")


async def test_unknown_route_and_method(backend):
    _is_error(await backend.client.get("/api/nope"), 404, "not_found")
    _is_error(await backend.client.put("/api/me"), 405, "method_not_allowed")


async def test_body_too_large(backend):
    big = b'{"email": "a@b.co", "password": "' + b"x" * 300_000 + b'"}'
    response = await backend.client.post(
        "/api/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    _is_error(response, 413, "payload_too_large")


async def test_body_too_large_without_content_length(backend):
    async def chunks():
        for _ in range(40):
            yield b"x" * 10_000

    response = await backend.client.post(
        "/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _is_error(response, 413)


async def test_tokens(backend, settings):
    _is_error(await backend.client.get("/api/me"), 401, "unauthorized")
    _is_error(
        await backend.client.get("/api/me", headers={"Authorization": "Bearer junk"}), 401, "invalid_token"
    )
    expired = access_tokens.issue(settings.jwt_secret.get_secret_value(), "someone", 60, now=0)
    _is_error(
        await backend.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}),
        401,
        "token_expired",
    )
    forged = access_tokens.issue("a-different-secret-of-32-bytes-or-more", "someone", 60)
    _is_error(
        await backend.client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "invalid_token",
    )


async def test_unreachable_internal_service_is_503(backend):
    auth = await backend.register()
    await backend.ctx.orchestrator.http.aclose()
    import httpx

    backend.ctx.orchestrator.http = httpx.AsyncClient(base_url="http://127.0.0.1:9", timeout=1)
    refused = await backend.client.get("/api/conversations", headers=backend.bearer(auth))
    _is_error(refused, 503, "upstream_unavailable")
    assert int(refused.headers["retry-after"]) >= 1  # every 503 says when to retry

    v1 = await backend.client.get("/v1/models", headers=backend.bearer(auth))
    assert v1.status_code == 503 and v1.json()["error"]["type"] == "server_error"  # OpenAI's shape
    assert int(v1.headers["retry-after"]) >= 1
