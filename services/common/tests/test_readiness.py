"""/ready fails only on a dependency the pod cannot serve without; optional ones show as degraded."""

from alice_common.observability import install_observability, register_check
from fastapi import FastAPI
from fastapi.testclient import TestClient


async def ok() -> None:
    return None


async def down() -> None:
    raise ConnectionError("refused")


def ready(required, optional) -> tuple[int, dict]:
    app = FastAPI()
    install_observability(app, "test")
    register_check(app, "store", required)
    register_check(app, "vectors", optional, required=False)
    response = TestClient(app).get("/ready")
    return response.status_code, response.json()


def test_all_up_is_ready():
    assert ready(ok, ok) == (
        200,
        {"status": "ready", "service": "test", "checks": {"store": "ok", "vectors": "ok"}},
    )


def test_an_optional_dependency_down_keeps_the_pod_in_rotation():
    status, body = ready(ok, down)
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["vectors"].startswith("ConnectionError")


def test_a_required_dependency_down_takes_the_pod_out():
    status, body = ready(down, ok)
    assert status == 503 and body["status"] == "unavailable"
