"""Monitoring on the real cluster (issue 21): the Prometheus and Alertmanager that `make cluster-up`
runs (tools/cluster/addons/monitoring, the Prometheus Operator), configured by nothing but the
project's own ServiceMonitor and PrometheusRule (k8s/monitoring, added by tests/cluster/overlay).

- every Alice service and the Kafka lag exporter are `up == 1` targets of that ServiceMonitor;
- every panel query of the Grafana dashboard returns data;
- each alert is induced for real and seen firing, then resolving, in Alertmanager's API, the
  conditions in parallel: a crash loop (AlicePodRestarts), CPU pressure (AliceHighCPU), a
  dependency that hangs (AliceHighLatencyP99), then stops (AliceHighErrorRate) while records queue
  for it (AliceKafkaConsumerLag). AliceHighMemory is not provoked (docs/operations.md says why).
- the runbook's "How to see alerts" commands, as written.

Prometheus and Alertmanager are reached through the API server's service proxy (`kubectl get
--raw`), so no port is opened on the shared machine."""

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from alice_common import topics

from tests.support import runbook
from tests.support.kube import CONTEXT, NAMESPACE, ROOT, Deployment, Kube, ready, run
from tests.support.stack import new_credentials

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

PROMETHEUS = "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy"
ALERTMANAGER = "/api/v1/namespaces/monitoring/services/alertmanager-operated:web/proxy"
# The Services the project's ServiceMonitor selects (label monitoring=enabled, port "metrics").
ALICE_JOBS = {
    *(f"{service}-metrics" for service in ("backend", "orchestrator", "dataflow", "kafkaflow")),
    "kafka-exporter",
    "inference-metrics",  # llama-server's own llamacpp:* series
}
NODE = "alice-control-plane"
UP = 'up{namespace="alice"}'
LAG = "kafka_consumergroup_lag_sum"
# The dataflow group KEDA scales on, and its topic (alice_common.topics).
MEMORY_TOPIC = topics.CHAT_COMPLETED.name
MEMORY_GROUP = topics.CHAT_COMPLETED.group_of("dataflow")


def api(kube: Kube, path: str, **params: str):
    query = f"?{urlencode(params)}" if params else ""
    return json.loads(kube("get", "--raw", f"{path}{query}", namespace=None, timeout=60).stdout)


def query(kube: Kube, expr: str) -> list[dict]:
    return api(kube, f"{PROMETHEUS}/api/v1/query", query=expr)["data"]["result"]


def alertmanager_alerts(kube: Kube, name: str) -> list[dict]:
    return [a for a in api(kube, f"{ALERTMANAGER}/api/v2/alerts") if a["labels"].get("alertname") == name]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def firing(kube: Kube, name: str, match: Callable[[dict], bool]) -> list[dict]:
    """The alerts `name` Alertmanager holds as active (not yet ended) whose labels match."""
    now = datetime.now(UTC)
    return [
        a
        for a in alertmanager_alerts(kube, name)
        if a["status"]["state"] == "active" and _time(a["endsAt"]) > now and match(a["labels"])
    ]


class Watch:
    """Times one alert: when it was seen firing, then resolved, in Alertmanager."""

    def __init__(self, kube: Kube, name: str, match: Callable[[dict], bool], started: float) -> None:
        self.kube, self.name, self.match, self.started = kube, name, match, started
        self.fired_s: float | None = None
        self.resolved_s: float | None = None

    def is_firing(self) -> bool:
        if firing(self.kube, self.name, self.match):
            self.fired_s = self.fired_s or time.monotonic() - self.started
            return True
        return False

    def wait_firing(self, timeout_s: float) -> None:
        self.kube.wait_for(f"{self.name} firing in Alertmanager", self.is_firing, timeout_s, 3)

    def wait_resolved(self, timeout_s: float) -> None:
        assert self.fired_s is not None, f"{self.name} never fired"
        self.kube.wait_for(
            f"{self.name} resolved in Alertmanager", lambda: not self.is_firing(), timeout_s, 3
        )
        self.resolved_s = time.monotonic() - self.started

    def __str__(self) -> str:
        fired, resolved = (round(s) if s is not None else None for s in (self.fired_s, self.resolved_s))
        return f"{self.name}: fired {fired}s, resolved {resolved}s"


def test_every_service_and_the_lag_exporter_are_up_targets(deployed: Deployment) -> None:
    kube = deployed.kube

    def all_up() -> dict[str, str] | None:
        jobs = {r["metric"]["job"]: r["value"][1] for r in query(kube, UP)}
        return jobs if all(jobs.get(job) == "1" for job in ALICE_JOBS) else None

    try:
        kube.wait_for("every Alice metrics Service up", all_up, 240, 5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {query(kube, UP)}") from None
    targets = api(kube, f"{PROMETHEUS}/api/v1/targets", state="active")["data"]["activeTargets"]
    pools = {t["labels"]["job"]: t["scrapePool"] for t in targets if t["labels"].get("namespace") == "alice"}
    for job in ALICE_JOBS:
        assert pools[job] == "serviceMonitor/alice/alice-services/0", (job, pools)


def _without_threshold(expr: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s*[0-9.]+\s*$", "", expr.strip()))


def test_prometheus_runs_the_users_rules(deployed: Deployment) -> None:
    """What the test overlay may change is the numbers: `for:` and the threshold, never the expression."""
    kube = deployed.kube
    (group,) = yaml.safe_load((ROOT / "k8s/monitoring/prometheusrule.yaml").read_text())["spec"]["groups"]
    users = {r["alert"]: r["expr"] for r in group["rules"]}

    def loaded() -> dict[str, dict] | None:
        groups = api(kube, f"{PROMETHEUS}/api/v1/rules", type="alert")["data"]["groups"]
        rules = {r["name"]: r for g in groups if "alice-alerts" in g["file"] for r in g["rules"]}
        return rules if set(rules) == set(users) else None

    kube.wait_for("Prometheus loading the PrometheusRule alice-alerts", loaded, 180, 5)
    (applied,) = kube.json("get", "prometheusrule", "alice-alerts")["spec"]["groups"]
    for rule in applied["rules"]:
        assert _without_threshold(rule["expr"]) == _without_threshold(users[rule["alert"]]), rule["alert"]


def test_every_dashboard_panel_query_returns_data(deployed: Deployment) -> None:
    kube = deployed.kube
    config = yaml.safe_load((ROOT / "k8s/monitoring/grafana-dashboard.yaml").read_text())
    panels = json.loads(config["data"]["alice.json"])["panels"]
    assert len(panels) == 10

    def empty_panels() -> list[str]:
        empty = []
        for panel in panels:
            for target in panel["targets"]:
                values = [r["value"][1] for r in query(kube, target["expr"])]
                if not [v for v in values if v not in ("NaN", "+Inf", "-Inf")]:
                    empty.append(panel["title"])
        return empty

    # A rate needs two scrapes of each series: up to a minute after the deployment.
    last: list[list[str]] = []
    try:
        kube.wait_for(
            "every panel with data", lambda: not last.append(empty_panels()) and not last[-1], 180, 10
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: no data in {last[-1]}") from None


# --- each alert, for real ------------------------------------------------------------------------


def restarts(pod: dict) -> int:
    return sum(c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", []))


def crash_loop(kube: Kube, started: float) -> Watch:
    """A release with a broken setting: the new kafkaflow pod exits at start, again and again
    (the old one keeps serving: maxUnavailable 0). Rolling back removes it."""
    before = {p["metadata"]["name"] for p in kube.pods("app.kubernetes.io/name=kafkaflow")}
    kube("set", "env", "deployment/kafkaflow", "POLL_INTERVAL_S=not-a-number")
    try:
        crashing = kube.wait_for(
            "the new kafkaflow pod restarted twice",
            lambda: next(
                (
                    p["metadata"]["name"]
                    for p in kube.pods("app.kubernetes.io/name=kafkaflow")
                    if p["metadata"]["name"] not in before and restarts(p) >= 2
                ),
                None,
            ),
            240,
            3,
        )
        watch = Watch(kube, "AlicePodRestarts", lambda labels: labels.get("pod") == crashing, started)
        watch.wait_firing(240)
    finally:
        kube("rollout", "undo", "deployment/kafkaflow")
        kube("rollout", "status", "deployment/kafkaflow", "--timeout=300s", timeout=330)
    watch.wait_resolved(180)
    return watch


BURN_S = 300  # longer than it takes to fire; the pod's replacement ends it
BURN = f"import time\nend = time.monotonic() + {BURN_S}\nwhile time.monotonic() < end:\n    pass\n"


def cpu_pressure(kube: Kube, started: float) -> Watch:
    """A busy loop inside the lag exporter's pod, at its 200m CPU limit, until AliceHighCPU fires for
    that pod; then the pod is replaced, as an operator restarts a runaway process. The rule's rate
    is over 5 minutes, so stopping the loop alone would end the alert only 5 minutes after it began;
    a replaced pod leaves the expression (kube-state-metrics no longer has its limit)."""
    pod = one_pod(kube, "kafka-exporter")["metadata"]["name"]
    watch = Watch(kube, "AliceHighCPU", lambda labels: labels.get("pod") == pod, started)
    argv = ["kubectl", "--context", CONTEXT, "-n", NAMESPACE, "exec", pod, "--", "python", "-c", BURN]
    burner = subprocess.Popen(argv, env=kube.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        watch.wait_firing(BURN_S - 30)
    finally:
        kube("rollout", "restart", "deployment/kafka-exporter")
        kube("rollout", "status", "deployment/kafka-exporter", "--timeout=300s", timeout=330)
        burner.kill()
        burner.wait(30)
    watch.wait_resolved(120)
    return watch


# chat.completed, the input of the dataflow's consumer group, from inside the backend's pod with its
# own settings (as tests/cluster/test_scaling.py queues them).
EVENTS = 150  # above the overlay's lag threshold of 100, few enough to drain fast
PRODUCE = """
import asyncio
from alice_common import clients, topics
from alice_common.events import ChatCompleted
from alice_common.ids import new_id
from alice_common.kafka import publish
from alice_backend.settings import Settings

async def main():
    settings = Settings()
    producer = clients.kafka_producer(settings)
    await producer.start()
    try:
        events = [
            ChatCompleted(
                conversation_id=f"lag-{{i % 16}}", user_id="lag-alert", user_message_id=new_id(),
                assistant_message_id=new_id(), reply_id=new_id(),
                user_content=f"Question {{i}}", assistant_content=f"Answer {{i}}",
            )
            for i in range({events})
        ]
        await asyncio.gather(*(
            publish(producer, settings, topics.CHAT_COMPLETED, e) for e in events
        ))
    finally:
        await producer.stop()

asyncio.run(main())
"""


def produce(kube: Kube, backend: str, events: int) -> None:
    kube("exec", backend, "--", "python", "-c", PRODUCE.format(events=events), timeout=300)


PAUSE_S = 3
# Fast answered requests after the outage: the 12 slow ones below 1 % and the 5xx below 5 % of the
# rules' 5-minute window.
FLOOD = 2500
TASKS = ["docker", "exec", NODE, "ctr", "-n", "k8s.io", "tasks"]  # containerd in the node


def one_pod(kube: Kube, name: str) -> dict:
    return next(p for p in kube.pods(f"app.kubernetes.io/name={name}") if ready(p))


def dataflow_outage(kube: Kube, deployed: Deployment, started: float) -> list[Watch]:
    """The dataflow, which answers the backend's searches and consumes chat.completed, first hangs
    for a few seconds at a time (the backend's searches wait: slow, but answered), then is gone
    while users keep searching (the backend answers 503) and records queue for it. Then it is
    back, the backlog drains and users' requests are fast and answered again."""
    backend_service = lambda labels: labels.get("service", "").startswith("backend")  # noqa: E731
    latency = Watch(kube, "AliceHighLatencyP99", backend_service, started)
    errors = Watch(kube, "AliceHighErrorRate", backend_service, started)
    dataflow_group = lambda labels: labels.get("consumergroup") == "dataflow"  # noqa: E731
    lag = Watch(kube, "AliceKafkaConsumerLag", dataflow_group, started)
    # Each must fire because of what follows, not be left over from before it.
    kube.wait_for(
        "the backend's latency and error alerts and the dataflow's lag alert quiet before the outage",
        lambda: not any(firing(kube, w.name, w.match) for w in (latency, errors, lag)),
        300,
        3,
    )
    with httpx.Client(base_url=deployed.url, timeout=60) as client:
        users = []
        for _ in range(4):  # search is limited to 20 at once per user
            response = client.post("/api/auth/register", json=new_credentials("alerts"))
            assert response.status_code == 201, response.text
            users.append({"Authorization": f"Bearer {response.json()['access_token']}"})
        turn = iter(range(10**6))

        def search() -> httpx.Response:
            user = users[next(turn) % len(users)]
            return client.get("/api/search", params={"q": "mountains"}, headers=user)

        def timed_search() -> tuple[float, int]:
            start = time.monotonic()
            code = search().status_code
            return time.monotonic() - start, code

        # 0. A group that has never committed an offset has no lag to show once its consumers are
        # gone (Kafka knows no position for it): the dataflow consumes one record first.
        backend = one_pod(kube, "backend")["metadata"]["name"]
        produce(kube, backend, 1)
        kube.wait_for(
            "the dataflow group's lag in Prometheus",
            lambda: query(kube, f'{LAG}{{consumergroup="{MEMORY_GROUP}", topic="{MEMORY_TOPIC}"}} == 0'),
            120,
            2,
        )

        # 1. A dependency that hangs: the dataflow's container paused (the cgroup freezer), 3 s a time.
        container = one_pod(kube, "dataflow")["status"]["containerStatuses"][0]["containerID"].split("//")[-1]
        slow = []
        for _ in range(4):
            run([*TASKS, "pause", container], kube.env, 30)
            try:
                with ThreadPoolExecutor(3) as pool:
                    pending = [pool.submit(timed_search) for _ in range(3)]
                    time.sleep(PAUSE_S)
                    run([*TASKS, "resume", container], kube.env, 30)
                    slow += [future.result() for future in pending]
            finally:
                run([*TASKS, "resume", container], kube.env, 30, check=False)  # resumed already: an error
        assert all(code == 200 for _, code in slow) and min(s for s, _ in slow) > 1, slow

        # 2. Gone: searches fail fast with a 5xx, and chat.completed queues.
        kube("scale", "deployment/dataflow", "--replicas=0")
        kube.wait_for("no dataflow pod", lambda: not kube.pods("app.kubernetes.io/name=dataflow"), 120)
        try:
            produce(kube, backend, EVENTS)
            deadline = time.monotonic() + 300
            codes = []
            while not all([latency.is_firing(), errors.is_firing(), lag.is_firing()]):
                assert time.monotonic() < deadline, f"not all firing within 300s: {latency}; {errors}; {lag}"
                codes.append(search().status_code)
                time.sleep(2)
            assert codes and all(code >= 500 for code in codes), codes
            # The alert says how far behind the group is: one exporter's count, not every exporter's sum.
            (alert,) = [
                a
                for a in api(kube, f"{PROMETHEUS}/api/v1/alerts")["data"]["alerts"]
                if a["labels"]["alertname"] == "AliceKafkaConsumerLag" and dataflow_group(a["labels"])
            ]
            assert 100 < float(alert["value"]) <= EVENTS, alert
        finally:
            # 3. Back: the backlog drains; users' requests are answered, fast.
            kube("scale", "deployment/dataflow", "--replicas=1")
            kube("rollout", "status", "deployment/dataflow", "--timeout=300s", timeout=330)
        answered = 0
        deadline = time.monotonic() + 180

        def fast() -> None:
            nonlocal answered
            while answered < FLOOD and time.monotonic() < deadline:
                if client.get("/api/me", headers=users[0]).status_code == 200:
                    answered += 1

        with ThreadPoolExecutor(6) as pool:
            for future in [pool.submit(fast) for _ in range(6)]:
                future.result()
        assert answered >= FLOOD, answered
    for watch in (latency, errors, lag):
        watch.wait_resolved(300)
    return [latency, errors, lag]


def test_each_alert_fires_and_resolves_in_alertmanager(deployed: Deployment, request) -> None:
    kube = deployed.kube
    started = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        futures = {
            "restarts": pool.submit(crash_loop, kube, started),
            "cpu": pool.submit(cpu_pressure, kube, started),
            "dataflow": pool.submit(dataflow_outage, kube, deployed, started),
        }
        results, failures = {}, {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except Exception as exc:  # every scenario finishes (and cleans up) before the verdict
                failures[name] = exc
    watches = [w for r in results.values() for w in (r if isinstance(r, list) else [r])]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\nalerts in {time.monotonic() - started:.0f}s: " + "; ".join(map(str, watches)), flush=True)
    assert not failures, failures


# --- the runbook ---------------------------------------------------------------------------------


def test_how_to_see_alerts_as_written(deployed: Deployment) -> None:
    kube = deployed.kube
    outputs = []
    for line in runbook.commands("How to see alerts"):
        result = run(["bash", "-c", line], kube.env, 120)
        outputs.append(result.stdout)
    alerts, rules, targets = (json.loads(o) for o in outputs)
    assert isinstance(alerts, list)
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert names >= {"AliceHighCPU", "AlicePodRestarts"}
    assert {t["labels"]["job"] for t in targets["data"]["activeTargets"] if t["health"] == "up"} >= ALICE_JOBS
