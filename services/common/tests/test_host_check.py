"""The internal services answer only for their own names in the Host header (a page rebinding its
DNS name to 127.0.0.1 cannot reach them from a browser); probes by pod IP still answer."""

import importlib

import pytest
from fastapi.testclient import TestClient

TOKEN = "host-check-token-long-enough-to-be-a-secret"
INTERNAL_ROUTE = {
    "orchestrator": "/internal/conversations",
    "dataflow": "/internal/documents",
    "kafkaflow": "/api/flows",
}


def client(service: str, **settings) -> TestClient:
    module = importlib.import_module(f"alice_{service}.main")
    config = importlib.import_module(f"alice_{service}.settings").Settings
    return TestClient(module.create_app(config(alice_internal_token=TOKEN, **settings)))


@pytest.mark.parametrize("service", INTERNAL_ROUTE)
def test_a_foreign_host_is_refused_before_anything_else(service):
    c = client(service)
    path = INTERNAL_ROUTE[service]
    for host in ("attacker.example", "attacker.example:8001", "127.0.0.1.attacker.example"):
        refused = c.get(path, params={"user_id": "u1"}, headers={"Host": host, "X-Internal-Token": TOKEN})
        assert refused.status_code == 400, (host, refused.text)
        assert refused.json()["error"]["code"] == "invalid_host"
    # Its own names pass the check (and meet the token guard).
    for host in ("127.0.0.1:8001", "localhost", "LOCALHOST:1"):
        assert c.get(path, params={"user_id": "u1"}, headers={"Host": host}).status_code == 401, host


@pytest.mark.parametrize("service", INTERNAL_ROUTE)
def test_the_configured_service_name_is_allowed_and_probes_answer_any_host(service):
    c = client(service, allowed_hosts=f"{service},127.0.0.1")
    path = INTERNAL_ROUTE[service]
    assert c.get(path, params={"user_id": "u1"}, headers={"Host": f"{service}:1"}).status_code == 401
    assert c.get(path, params={"user_id": "u1"}, headers={"Host": "localhost"}).status_code == 400
    assert c.get("/health", headers={"Host": "10.244.0.17:8001"}).status_code == 200  # the kubelet
