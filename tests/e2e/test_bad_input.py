# ruff: noqa: E501  (the case table reads best one case per line)
"""Bad input through the public API (issue 2 acceptance), against real backend and orchestrator
processes: every case gets the right 4xx and the JSON error shape, never a 5xx.

The orchestrator runs its `fake` model: nothing here depends on generated text.
"""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from tests.support.stack import UNTHROTTLED, Stack, bearer, isolation, register_sync

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

JWT_SECRET = "bad-input-test-secret-" + uuid.uuid4().hex
MAX_CHARS = 16_000


@dataclass
class World:
    url: str
    alice: dict[str, str]
    bob: dict[str, str]
    alice_conversation: str
    alice_reply: str
    bob_refresh: str
    revoked_refresh: str
    rotated_refresh: str


@pytest.fixture(scope="module")
def world(infra) -> Iterator[World]:
    backend = UNTHROTTLED | dict(
        # Nothing listens there: document calls that get past validation would be a 503.
        dataflow_url="http://127.0.0.1:9",
        jwt_secret=JWT_SECRET,
        max_message_chars=MAX_CHARS,
        max_upload_bytes=100_000,
    )
    with (
        Stack(infra, isolation("bad"), orchestrator={"llm_provider": "fake"}, backend=backend) as up,
        httpx.Client(base_url=up["backend"].url, timeout=30) as client,
    ):
        alice, bob = register_sync(client, "bad"), register_sync(client, "bad")
        a_auth = bearer(alice)
        conversation = client.post("/api/conversations", headers=a_auth, json={}).json()["id"]
        sent = client.post(
            f"/api/conversations/{conversation}/messages", headers=a_auth, json={"content": "hi"}
        )
        assert sent.status_code == 202, sent.text
        revoked = register_sync(client, "bad")["refresh_token"]
        assert client.post("/api/auth/logout", json={"refresh_token": revoked}).status_code == 204
        rotated = register_sync(client, "bad")["refresh_token"]
        assert client.post("/api/auth/refresh", json={"refresh_token": rotated}).status_code == 200
        yield World(
            url=up["backend"].url,
            alice=a_auth,
            bob=bearer(bob),
            alice_conversation=conversation,
            alice_reply=sent.json()["reply_id"],
            bob_refresh=bob["refresh_token"],
            revoked_refresh=revoked,
            rotated_refresh=rotated,
        )


def _token(sub: str, *, exp_offset: int, secret: str = JWT_SECRET) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": sub, "iat": now - 3600, "exp": now + exp_offset, "iss": "alice-backend"}
    return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}


UNKNOWN = uuid.uuid4().hex

# (name, method, path, who, request kwargs, status, error code or None)
CASES = [
    ("empty message", "POST", "/api/conversations/{conv}/messages", "alice", {"json": {"content": ""}}, 422, "empty_message"),
    ("blank message", "POST", "/api/conversations/{conv}/messages", "alice", {"json": {"content": " \n\t "}}, 422, "empty_message"),
    ("message too long", "POST", "/api/conversations/{conv}/messages", "alice", {"json": {"content": "x" * (MAX_CHARS + 1)}}, 413, "message_too_long"),
    ("missing content", "POST", "/api/conversations/{conv}/messages", "alice", {"json": {}}, 422, "validation_error"),
    ("content not a string", "POST", "/api/conversations/{conv}/messages", "alice", {"json": {"content": ["a"]}}, 422, "validation_error"),
    ("malformed JSON", "POST", "/api/conversations/{conv}/messages", "alice", {"content": b'{"content": "hi"', "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
    ("body over the JSON limit", "POST", "/api/conversations/{conv}/messages", "alice", {"content": b'{"content": "' + b"x" * 400_000 + b'"}', "headers": {"Content-Type": "application/json"}}, 413, "payload_too_large"),
    ("malformed JSON at login", "POST", "/api/auth/login", None, {"content": b"{email", "headers": {"Content-Type": "application/json"}}, 400, "malformed_json"),
    ("bad email at register", "POST", "/api/auth/register", None, {"json": {"email": "nope", "password": "long-enough"}}, 422, "validation_error"),
    ("short password", "POST", "/api/auth/register", None, {"json": {"email": "a@example.com", "password": "short"}}, 422, "validation_error"),
    ("no token", "GET", "/api/me", None, {}, 401, "unauthorized"),
    ("garbage token", "GET", "/api/me", "garbage", {}, 401, "invalid_token"),
    ("expired token", "GET", "/api/conversations", "expired", {}, 401, "token_expired"),
    ("forged token", "GET", "/api/conversations", "forged", {}, 401, "invalid_token"),
    ("revoked refresh token", "POST", "/api/auth/refresh", None, {"json": {"refresh_token": "{revoked}"}}, 401, "invalid_refresh_token"),
    ("reused refresh token", "POST", "/api/auth/refresh", None, {"json": {"refresh_token": "{rotated}"}}, 401, "invalid_refresh_token"),
    ("garbage refresh token", "POST", "/api/auth/refresh", None, {"json": {"refresh_token": "xyz"}}, 401, "invalid_refresh_token"),
    ("unknown conversation", "GET", f"/api/conversations/{UNKNOWN}", "alice", {}, 404, None),
    ("malformed conversation id", "GET", "/api/conversations/..%2F..%2Fetc", "alice", {}, 404, None),
    ("unknown conversation send", "POST", f"/api/conversations/{UNKNOWN}/messages", "alice", {"json": {"content": "hi"}}, 404, None),
    ("unknown reply stream", "GET", f"/api/replies/{UNKNOWN}/stream", "alice", {}, 404, None),
    ("unknown reply stop", "POST", f"/api/replies/{UNKNOWN}/stop", "alice", {}, 404, None),
    ("unknown document", "GET", "/api/documents/not-a-document", "alice", {}, 404, "not_found"),
    ("others' conversation", "GET", "/api/conversations/{conv}", "bob", {}, 404, None),
    ("others' messages", "GET", "/api/conversations/{conv}/messages", "bob", {}, 404, None),
    ("others' conversation rename", "PATCH", "/api/conversations/{conv}", "bob", {"json": {"title": "mine"}}, 404, None),
    ("others' conversation delete", "DELETE", "/api/conversations/{conv}", "bob", {}, 404, None),
    ("others' conversation send", "POST", "/api/conversations/{conv}/messages", "bob", {"json": {"content": "hi"}}, 404, None),
    ("others' reply stream", "GET", "/api/replies/{reply}/stream", "bob", {}, 404, None),
    ("others' reply via query token", "GET", "/api/replies/{reply}/stream?access_token={bob_token}", None, {}, 404, None),
    ("others' reply stop", "POST", "/api/replies/{reply}/stop", "bob", {}, 404, None),
    ("others' reply regenerate", "POST", "/api/replies/{reply}/regenerate", "bob", {}, 404, None),
    ("upload too large", "POST", "/api/documents", "alice", {"files": {"file": ("big.txt", b"a" * 100_001)}}, 413, "payload_too_large"),
    ("upload far too large", "POST", "/api/documents", "alice", {"files": {"file": ("big.txt", b"a" * 1_000_000)}}, 413, "payload_too_large"),
    ("upload binary", "POST", "/api/documents", "alice", {"files": {"file": ("x.pdf", b"\x7fELF\x02\x01\x01\x00" * 10, "application/pdf")}}, 415, "unsupported_media_type"),
    ("upload without file", "POST", "/api/documents", "alice", {"data": {"nofile": "1"}}, 422, "validation_error"),
    ("search without q", "GET", "/api/search", "alice", {}, 422, "validation_error"),
    ("search limit not a number", "GET", "/api/search?q=a&limit=lots", "alice", {}, 422, "validation_error"),
    ("list limit out of range", "GET", "/api/conversations?limit=0", "alice", {}, 422, "validation_error"),
    ("admin only", "GET", "/api/admin/stats", "alice", {}, 403, "forbidden"),
    ("unknown route", "GET", "/api/unknown", "alice", {}, 404, "not_found"),
    ("wrong method", "PUT", "/api/conversations", "alice", {}, 405, "method_not_allowed"),
    ("unknown field", "PATCH", "/api/me", "alice", {"json": {"is_admin": True}}, 422, "validation_error"),
    ("wrong type", "PATCH", "/api/me", "alice", {"json": {"settings": {"memory_enabled": "yes"}}}, 422, "validation_error"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "method", "path", "who", "kwargs", "status", "code"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_gets_a_json_4xx(world, name, method, path, who, kwargs, status, code):
    headers = {
        "alice": world.alice,
        "bob": world.bob,
        "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": _token("someone", exp_offset=-10),
        "forged": _token("someone", exp_offset=600, secret="another-secret-" + uuid.uuid4().hex),
        None: {},
    }[who]
    fill = {
        "conv": world.alice_conversation,
        "reply": world.alice_reply,
        "bob_token": world.bob["Authorization"].removeprefix("Bearer "),
        "revoked": world.revoked_refresh,
        "rotated": world.rotated_refresh,
    }
    path = path.format(**fill)
    kwargs = dict(kwargs)
    if "json" in kwargs and isinstance(kwargs["json"], dict):
        kwargs["json"] = {
            k: (v.format(**fill) if isinstance(v, str) and "{" in v else v) for k, v in kwargs["json"].items()
        }
    kwargs["headers"] = headers | kwargs.get("headers", {})
    with httpx.Client(base_url=world.url, timeout=30) as client:
        response = client.request(method, path, **kwargs)
    assert response.status_code == status, f"{name}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body


def test_the_owner_still_reaches_what_others_could_not(world):
    """The 404s above are about the caller: the same ids work for their owner."""
    with httpx.Client(base_url=world.url, timeout=30) as client:
        assert (
            client.get(f"/api/conversations/{world.alice_conversation}", headers=world.alice).status_code
            == 200
        )
        assert client.post(f"/api/replies/{world.alice_reply}/stop", headers=world.alice).status_code == 202


def test_rate_limited_sends_get_429_with_retry_after(world):
    with httpx.Client(base_url=world.url, timeout=30) as client:
        conversation = client.post("/api/conversations", headers=world.bob, json={}).json()["id"]
        statuses = []
        for _ in range(40):
            response = client.post(
                f"/api/conversations/{conversation}/messages", headers=world.bob, json={"content": "hello"}
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json()["error"]["code"] == "rate_limited"
                break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {202}
