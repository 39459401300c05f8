"""What `make up` promises: every infrastructure port answers, every service answers /health, /ready
and /metrics, /ready follows its dependencies, and `devstack down` stops exactly what it started."""

import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from devstack import health, process
from devstack.config import mongo_socket
from devstack.testing import PrivateRedis, ServiceProcess, service_env
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration

SERVICES = ("backend", "orchestrator", "dataflow", "kafkaflow")


def _port(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"tcp://{url}")
    return parsed.hostname or "127.0.0.1", parsed.port or 0


async def test_every_infrastructure_port_answers(infra):
    redis_host, redis_port = _port(infra.redis_url)
    kafka_host, kafka_port = _port(infra.kafka_bootstrap_servers.split(",")[0])
    assert health.redis_ping(redis_port, host=redis_host)
    assert health.kafka_api_versions(kafka_port, host=kafka_host)
    mongo = AsyncMongoClient(infra.mongodb_url, serverSelectionTimeoutMS=5000)
    try:
        assert (await mongo.admin.command("ping"))["ok"] == 1
    finally:
        await mongo.close()
    async with httpx.AsyncClient(timeout=5) as client:
        ready = await client.get(f"{infra.weaviate_url}/v1/.well-known/ready")
        assert ready.status_code == 200
        key = {"Authorization": f"Bearer {infra.weaviate_api_key}"} if infra.weaviate_api_key else {}
        meta = (await client.get(f"{infra.weaviate_url}/v1/meta", headers=key)).json()
        assert meta["version"].startswith("1.")


@pytest.fixture(scope="module")
def services(infra):
    """The four services started together, as `make up` starts them; each test waits for its own
    service, so one service that fails to start fails only its own test."""
    procs = {name: ServiceProcess(name, service_env(infra)) for name in SERVICES}
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.mark.parametrize("name", SERVICES)
def test_service_answers_health_ready_and_metrics(services, name):
    services[name].wait_ready()
    base = services[name].url
    health_response = httpx.get(f"{base}/health", timeout=5)
    assert health_response.status_code == 200
    assert health_response.json()["status"] == "ok"

    ready = httpx.get(f"{base}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"], "a service with dependencies must check at least one"
    assert all(result == "ok" for result in ready.json()["checks"].values())

    metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert "# TYPE http_requests_total counter" in text
    # The /health call above was counted, labelled with this service and route.
    assert any(
        line.startswith("http_requests_total{")
        and f'service="{name}"' in line
        and 'route="/health"' in line
        and 'status="200"' in line
        for line in text.splitlines()
    ), text[:2000]


def _wait_for_status(svc: ServiceProcess, want_ok: bool, within_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if (svc.ready_status() == 200) == want_ok:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"/ready of {svc.service} did not turn {'200' if want_ok else 'non-200'}")


def test_ready_follows_redis_going_down_and_coming_back(infra, private_redis):
    with ServiceProcess("backend", service_env(infra, redis_url=private_redis.url)) as backend:
        assert backend.ready_status() == 200

        private_redis.stop()
        took_down = _wait_for_status(backend, want_ok=False, within_s=10)
        report = httpx.get(f"{backend.url}/ready", timeout=10)
        assert report.status_code == 503
        assert report.json()["checks"]["redis"] != "ok"
        assert report.json()["checks"]["kafka"] == "ok"

        private_redis.start()
        took_up = _wait_for_status(backend, want_ok=True, within_s=15)
    assert took_down < 5 and took_up < 10, (took_down, took_up)


def _wait_for_check(
    svc: ServiceProcess, check: str, want_ok: bool, within_s: float
) -> tuple[int | None, dict]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        status, body = svc.ready_report()
        if (body.get("checks", {}).get(check) == "ok") == want_ok:
            return status, body
        time.sleep(0.2)
    raise AssertionError(f"{svc.service}: check {check} did not turn {'ok' if want_ok else 'failing'}")


def test_without_kafka_everything_but_sending_works_and_without_mongodb_the_backend_is_unready(
    infra, second_devstack
):
    ds = second_devstack
    up = ds("start", "kafka", "mongodb")
    assert up.returncode == 0, up.stdout + up.stderr
    stores = {
        "kafka_bootstrap_servers": f"127.0.0.1:{ds.ports['ALICE_KAFKA_PORT']}",
        "mongodb_url": ds.mongodb_url,
    }
    orchestrator_env = service_env(infra, **stores, llm_provider="fake")
    with ServiceProcess("orchestrator", orchestrator_env) as orchestrator:
        env = service_env(infra, **stores, orchestrator_url=orchestrator.url, publish_timeout_s=2)
        with ServiceProcess("backend", env) as backend:
            api = httpx.Client(base_url=backend.url, timeout=30)
            credentials = {"email": f"deg-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-0123456789"}
            auth = {
                "Authorization": "Bearer "
                + api.post("/api/auth/register", json=credentials).json()["access_token"]
            }
            conversation = api.post("/api/conversations", headers=auth, json={"title": "t"}).json()["id"]

            assert ds("stop", "kafka").returncode == 0
            for svc in (backend, orchestrator):  # both stay in rotation, reporting Kafka
                status, report = _wait_for_check(svc, "kafka", want_ok=False, within_s=10)
                assert status == 200 and report["status"] == "degraded", report
            assert api.post("/api/auth/login", json=credentials).status_code == 200
            assert api.get("/api/conversations", headers=auth).status_code == 200  # history
            started = time.monotonic()
            send = api.post(
                f"/api/conversations/{conversation}/messages", headers=auth, json={"content": "hi"}
            )
            assert send.status_code == 503 and int(send.headers["Retry-After"]) > 0, send.text
            assert time.monotonic() - started < 6

            assert ds("start", "kafka").returncode == 0
            _wait_for_check(backend, "kafka", want_ok=True, within_s=30)
            send = api.post(
                f"/api/conversations/{conversation}/messages", headers=auth, json={"content": "hi"}
            )
            assert send.status_code == 202, send.text

            assert ds("stop", "mongodb").returncode == 0
            took_down = _wait_for_status(backend, want_ok=False, within_s=10)
            assert ds("start", "mongodb").returncode == 0
            took_up = _wait_for_status(backend, want_ok=True, within_s=20)
            assert took_down < 5 and took_up < 15, (took_down, took_up)


def test_down_stops_exactly_what_devstack_started(tmp_path: Path, second_devstack):
    """The second devstack starts Redis, FerretDB and Kafka, finds a Redis it did not start on its
    Redis port, and `down` stops its own processes and leaves that one alone."""
    ds = second_devstack
    foreign = PrivateRedis(tmp_path / "foreign", port=ds.ports["ALICE_REDIS_PORT"]).start()
    try:
        up = ds("start", "redis", "mongodb", "kafka")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "not by devstack" in up.stdout  # the foreign Redis was recognised, not replaced

        run_dir = ds.state_dir / "run"
        records = [process.PidFiles(run_dir).read(name) for name in ("mongodb", "kafka")]
        assert all(r is not None and process.is_alive(r) for r in records)
        assert process.PidFiles(run_dir).read("redis") is None
        pids = {pid for r in records for pid in process.session_members(r)}

        status = ds("status", "redis", "mongodb", "kafka")
        assert status.returncode == 0, status.stdout

        down = ds("down")
        assert down.returncode == 0, down.stdout + down.stderr
        still_running = [pid for pid in pids if process.proc_start_time(pid) is not None]
        assert still_running == []
        assert not health.unix_open(mongo_socket(ds.state_dir))
        assert not health.kafka_api_versions(ds.ports["ALICE_KAFKA_PORT"])
        assert health.redis_ping(ds.ports["ALICE_REDIS_PORT"]), "down stopped a Redis it had not started"
        assert list(run_dir.glob("*.json")) == []

        after = ds("status", "mongodb")
        assert after.returncode == 1
    finally:
        foreign.stop()
