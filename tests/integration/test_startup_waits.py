"""Start-up waits for the stores, it does not crash
(docs/decisions/0039-start-up-waits-for-stores.md): the four services are started before their
Kafka, Redis and Mongo-protocol store exist (a private devstack, started only afterwards). Each one answers
`/health` while it waits, says `starting` in `/ready`, refuses requests with a 503 that says when
to retry, and once the stores are up becomes ready and serves a chat end to end, in the same
process: nothing restarted it."""

import time
import uuid

import httpx
import pytest
from devstack.testing import ServiceProcess, service_env, unique_name

pytestmark = pytest.mark.integration

TOKEN = "startup-waits-internal-token-long-enough-to-be-a-secret"
SERVICES = ("orchestrator", "dataflow", "kafkaflow", "backend")
# A service process imports its stack (the embedding runtime, the model) before it serves: on the
# shared 2-core machine that alone can take tens of seconds with four starting at once.
SERVING_WITHIN_S = 120


def _wait(what: str, predicate, within_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + within_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {within_s:.0f} s"
        time.sleep(interval_s)


def _health(svc: ServiceProcess) -> httpx.Response | None:
    assert svc.running, f"{svc.service} exited {svc.proc.returncode}:\n{svc.log_tail()}"
    try:
        return httpx.get(f"{svc.url}/health", timeout=2)
    except httpx.TransportError:
        return None


def _timed_get(url: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=10, **kwargs)
    return response, time.monotonic() - started


def test_every_service_waits_for_its_stores_then_serves_without_a_restart(infra, second_devstack):
    ds = second_devstack
    stores = {
        "kafka_bootstrap_servers": f"127.0.0.1:{ds.ports['ALICE_KAFKA_PORT']}",
        "redis_url": ds.redis_url,
        "mongodb_url": ds.mongodb_url,
        # Weaviate stays the shared one: the private stack is what this test starts late.
        "mongodb_database": unique_name("startup_waits"),
        "kafka_topic_prefix": f"{unique_name('startup-waits')}.",
        "alice_internal_token": TOKEN,
    }
    overrides = {
        "orchestrator": {"llm_provider": "fake"},
        "dataflow": {},
        "kafkaflow": {},
        "backend": {"register_rate_per_ip_capacity": 100, "register_rate_per_ip_per_s": 100},
    }
    procs = {name: ServiceProcess(name, service_env(infra, **stores, **overrides[name])) for name in SERVICES}
    procs["backend"].env.update(
        {f"{name.upper()}_URL": procs[name].url for name in ("orchestrator", "dataflow", "kafkaflow")}
    )
    try:
        for svc in procs.values():
            svc.start(wait_ready=False)
        pids = {name: svc.proc.pid for name, svc in procs.items()}

        # Nothing to connect to: every service serves /health at once and says it is starting.
        for name, svc in procs.items():
            health = _wait(f"{name} /health", lambda svc=svc: _health(svc), SERVING_WITHIN_S)
            assert health.status_code == 200 and health.json()["status"] == "ok", (name, health.text)
            ready, took = _timed_get(f"{svc.url}/ready")
            assert ready.status_code == 503, (name, ready.text)
            assert ready.json()["status"] == "starting", (name, ready.text)
            assert "waiting for" in ready.json()["checks"]["startup"], (name, ready.text)
            assert took < 3, f"{name} /ready took {took:.1f} s"

        # A request that needs the stores is refused at once, with when to retry: never a hang.
        api = httpx.Client(base_url=procs["backend"].url, timeout=10)
        credentials = {"email": f"sw-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-0123456789"}
        started = time.monotonic()
        refused = api.post("/api/auth/register", json=credentials)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.json()["error"]["code"] == "service_unavailable", refused.text
        assert time.monotonic() - started < 3
        flows, took = _timed_get(f"{procs['kafkaflow'].url}/api/flows", headers={"X-Internal-Token": TOKEN})
        assert flows.status_code == 503 and took < 3, (flows.status_code, took)

        # The stores come up late; the services find them without a restart.
        up = ds("start", "redis", "mongodb", "kafka", timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        came_up = time.monotonic()
        for svc in procs.values():
            svc.wait_ready(timeout_s=90)
        ready_after_s = time.monotonic() - came_up

        tokens = api.post("/api/auth/register", json=credentials)
        assert tokens.status_code == 201, tokens.text
        auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        conversation = api.post("/api/conversations", headers=auth, json={"title": "late stores"})
        assert conversation.status_code == 201, conversation.text  # through the orchestrator
        conversation_id = conversation.json()["id"]
        assert api.get("/api/documents", headers=auth).status_code == 200  # through the dataflow
        messages = f"/api/conversations/{conversation_id}/messages"
        send = api.post(messages, headers=auth, json={"content": "hi"})
        assert send.status_code == 202, send.text  # through Kafka

        def answered():
            page = api.get(messages, headers=auth).json()
            return [m for m in page["items"] if m["role"] == "assistant" and m["status"] == "completed"]

        assert len(_wait("a completed reply", answered, 60, interval_s=0.5)) == 1
        flows, _ = _timed_get(f"{procs['kafkaflow'].url}/api/flows", headers={"X-Internal-Token": TOKEN})
        assert flows.status_code == 200, flows.text

        for name, svc in procs.items():
            assert svc.running and svc.proc.pid == pids[name], f"{name} was restarted"
            log = svc.log_file.read_text(errors="replace")
            assert "start-up waits for" in log, f"{name} logged no wait:\n{svc.log_tail()}"
        print(f"\n  stores up -> all four services ready in {ready_after_s:.1f} s")
    finally:
        for svc in reversed(procs.values()):
            svc.stop()
