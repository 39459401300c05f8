"""The shared internal-token guard: right token passes, anything else is a JSON 401, never a 500."""

import pytest
from alice_common.errors import install_error_handlers
from alice_common.internal_auth import internal_token_guard
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/internal/x", dependencies=[Depends(internal_token_guard(SecretStr("s3cret-token")))])
    async def guarded() -> dict:
        return {"ok": True}

    return TestClient(app)


def test_the_right_token_passes(client):
    assert client.get("/internal/x", headers={"X-Internal-Token": "s3cret-token"}).json() == {"ok": True}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Internal-Token": ""},
        {"X-Internal-Token": "s3cret-toke"},
        {"X-Internal-Token": "s3cret-token "},
        {"X-Internal-Token": "s3cret-tokén".encode("latin-1")},  # non-ASCII: str comparison would raise
        {"X-Internal-Token": b"\xff\xfe"},
    ],
)
def test_anything_else_is_a_401(client, headers):
    response = client.get("/internal/x", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
