"""Auth and validation of the internal API, answered before any store is touched (no lifespan)."""

from alice_dataflow.main import create_app
from alice_dataflow.search import snippet
from alice_dataflow.settings import Settings
from fastapi.testclient import TestClient

TOKEN = {"X-Internal-Token": "unit-token-long-enough-to-be-a-secret"}


def client() -> TestClient:
    # The backend calls it as 127.0.0.1 natively (the Host check refuses TestClient's "testserver").
    app = create_app(Settings(alice_internal_token="unit-token-long-enough-to-be-a-secret"))
    return TestClient(app, base_url="http://127.0.0.1")


def test_every_internal_route_needs_the_token():
    c = client()
    routes = [
        ("GET", "/internal/documents"),
        ("GET", "/internal/search"),
        ("GET", "/internal/stats"),
        ("DELETE", "/internal/documents/x"),
        ("POST", "/internal/documents"),
    ]
    for method, path in routes:
        for token in ("wrong", "unit-tokén".encode("latin-1")):  # non-ASCII must be a 401, not a 500
            response = c.request(method, path, params={"user_id": "u1"}, headers={"X-Internal-Token": token})
            assert response.status_code == 401, (method, path, token)
            assert response.json()["error"]["code"] == "unauthorized"


def test_bad_input_is_a_json_4xx():
    c = client()
    cases = [
        ("GET", "/internal/documents", {}),  # no user_id
        ("GET", "/internal/documents", {"user_id": "a b"}),
        ("GET", "/internal/search", {"user_id": "u1"}),  # no q
        ("GET", "/internal/search", {"user_id": "u1", "q": "x", "limit": 51}),
        ("GET", "/internal/stats", {"days": 400}),
    ]
    for method, path, params in cases:
        response = c.request(method, path, params=params, headers=TOKEN)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    response = c.post("/internal/documents", params={"user_id": "u1"}, headers=TOKEN, json={"size": -1})
    assert response.status_code == 422
    assert c.get("/internal/nothing", headers=TOKEN).json()["error"]["code"] == "not_found"


def test_snippet_centres_on_the_query():
    text = "intro " * 100 + "the keeper is Ingrid Salo " + "outro " * 100
    cut = snippet(text, "who is Ingrid")
    assert "Ingrid Salo" in cut and cut.startswith("…") and cut.endswith("…") and len(cut) <= 242
    assert snippet("short text", "x") == "short text"
