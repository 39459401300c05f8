"""Right-sizing and placement on the real cluster (plan §11; docs/operations.md, "Right-sizing" and
"The spot pool").

- VPA: the recommender built from its upstream module (a tools/cluster add-on) reads metrics-server
  while users chat through the backend; every Alice workload's VerticalPodAutoscaler (k8s/vpa, Off
  mode) then carries a recommendation in its status, read back here and printed beside the
  workload's requests and limits (the table of docs/operations.md). Nothing is evicted or resized.
- The spot pool: a second node (tools/cluster/spot-node.sh: its own kubelet and containerd),
  labelled and tainted as GKE spot nodes are. Restarted, dataflow and kafkaflow (they tolerate the
  taint and prefer the label) run there, Ready; the orchestrator, restarted too, does not, although
  the spot node is the emptier one; no pod of a workload without the toleration is on it.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.kube import ROOT, WORKLOADS, Deployment, Kube, ready, run
from tests.support.stack import ask, register

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

VPA_CRD = "verticalpodautoscalers.autoscaling.k8s.io"
RECOMMENDATION_LIMIT_S = 180  # after the load; the recommender runs every 15 s (tools/cluster/addons/vpa)
METRICS_WINDOW_S = 15  # metrics-server's resolution: a sample this much after the load covers its end
LOAD_S = 45  # two users chatting, a new turn as soon as a reply is done
SPOT_NODE = "alice-spot"
CONTROL_PLANE = "alice-control-plane"
SPOT_TOLERATING = ("dataflow", "kafkaflow")  # restarted onto the spot pool here (frontend tolerates too)
NOT_TOLERATING = ("backend", "orchestrator", "redis", "kafka", "mongodb", "weaviate")


def recommendations(kube: Kube) -> dict[str, list[dict]]:
    vpas = kube.json("get", "verticalpodautoscalers")["items"]
    return {
        v["metadata"]["name"]: v.get("status", {})
        .get("recommendation", {})
        .get("containerRecommendations", [])
        for v in vpas
    }


def checkpoint_times(kube: Kube) -> dict[str, list[datetime]]:
    """When the recommender last wrote each VPA's checkpoints (one per container)."""
    written: dict[str, list[datetime]] = {}
    for checkpoint in kube.json("get", "verticalpodautoscalercheckpoints")["items"]:
        stamp = checkpoint.get("status", {}).get("lastUpdateTime")
        if stamp:
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            written.setdefault(checkpoint["spec"]["vpaObjectName"], []).append(when)
    return written


def resources_of(kube: Kube, kind: str, name: str) -> dict[str, dict]:
    spec = kube.json("get", kind.lower(), name)["spec"]["template"]["spec"]
    return {c["name"]: c.get("resources", {}) for c in spec["containers"]}


async def chat_load(deployed: Deployment) -> int:
    """Chat turns through the backend, two users at a time, for LOAD_S; returns how many."""
    done = 0
    async with httpx.AsyncClient(base_url=deployed.url, timeout=120) as api:
        users = [await register(api, "vpa") for _ in range(2)]

        end = time.monotonic() + LOAD_S

        async def user(auth: dict[str, str]) -> None:
            nonlocal done
            turn = 0
            while time.monotonic() < end:
                turn += 1
                reply = await ask(
                    api, auth, f"Give me three tips for a tidy desk (turn {turn}).", direct=False
                )
                assert reply["message"]["content"], reply
                done += 1

        await asyncio.gather(*(user(auth) for auth in users))
    return done


async def test_vpa_recommends_requests_for_every_workload_after_a_load_run(deployed: Deployment) -> None:
    kube = deployed.kube
    found = kube("get", "crd", VPA_CRD, check=False, namespace=None)
    assert found.returncode == 0, (
        "no VPA CRD: the vpa add-on is missing (tools/cluster/cluster.sh addons vpa)"
    )
    kube(
        "-n",
        "kube-system",
        "rollout",
        "status",
        "deployment/vpa-recommender",
        "--timeout=120s",
        namespace=None,
    )
    vpas = {v["metadata"]["name"]: v for v in kube.json("get", "verticalpodautoscalers")["items"]}
    targets = {
        name: (v["spec"]["targetRef"]["kind"], v["spec"]["targetRef"]["name"]) for name, v in vpas.items()
    }
    assert {t[1] for t in targets.values()} >= set(WORKLOADS)
    assert all(v["spec"]["updatePolicy"]["updateMode"] == "Off" for v in vpas.values())
    pods_before = workload_pods(kube)

    started = time.monotonic()
    turns = await chat_load(deployed)
    load_end = datetime.now(UTC)
    # A recommendation computed after the load: each VPA's checkpoint (written by the same loop
    # that updates the VPA's status) is newer than a metrics-server window past the load's end.
    settled = load_end + timedelta(seconds=METRICS_WINDOW_S)

    def current_recommendations() -> dict[str, list[dict]] | None:
        current = recommendations(kube)
        written = checkpoint_times(kube)
        fresh = all(current[n] and written.get(n) and min(written[n]) > settled for n in current)
        return current if fresh else None

    current = kube.wait_for(
        "a recommendation for every VPA, computed after the load",
        current_recommendations,
        RECOMMENDATION_LIMIT_S,
        interval_s=5,
    )
    elapsed = time.monotonic() - started

    rows = []
    for name, recs in sorted(current.items()):
        kind, target = targets[name]
        resources = resources_of(kube, kind, target)
        for rec in recs:
            assert rec["containerName"] in resources, (name, rec)
            for bound in ("lowerBound", "target", "upperBound"):
                assert set(rec[bound]) == {"cpu", "memory"}, (name, rec)
            assert parse_cpu(rec["lowerBound"]["cpu"]) <= parse_cpu(rec["target"]["cpu"])
            assert parse_cpu(rec["target"]["cpu"]) <= parse_cpu(rec["upperBound"]["cpu"])
            res = resources[rec["containerName"]]
            cells = [
                pair(res.get("requests", {})),
                pair(res.get("limits", {})),
                *(pair(rec[bound]) for bound in ("target", "lowerBound", "upperBound")),
            ]
            rows.append(f"| {target} | {rec['containerName']} | " + " | ".join(cells) + " |")
    # Off mode: the recommender changed no pod (none evicted, none resized by it).
    assert workload_pods(kube) == pods_before, "a pod was replaced while VPA only recommends"
    print(
        f"\nVPA: {turns} chat turns in {LOAD_S}s; recommendations for all {len(current)} workloads, "
        f"computed after the load, {elapsed:.0f}s after it started\n"
        "| workload | container | requests (cpu / memory) | limits | VPA target | lower bound"
        " | upper bound |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )


def pair(resources: dict) -> str:
    return f"{resources.get('cpu', '-')} / {mebibytes(resources.get('memory', '-'))}"


def mebibytes(memory: str) -> str:
    """The recommender writes bytes ("351198544"); the manifests use Mi."""
    return f"{int(memory) / 2**20:.0f}Mi" if memory.isdigit() else memory


def workload_pods(kube: Kube) -> set[str]:
    """The uids of the Deployments' and StatefulSets' pods."""
    pods = kube.json("get", "pods")["items"]
    owned = [
        p
        for p in pods
        if {o["kind"] for o in p["metadata"].get("ownerReferences", [])} & {"ReplicaSet", "StatefulSet"}
    ]
    return {p["metadata"]["uid"] for p in owned}


def parse_cpu(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def pods_of(kube: Kube, name: str) -> list[dict]:
    return [
        p for p in kube.pods(f"app.kubernetes.io/name={name}") if not p["metadata"].get("deletionTimestamp")
    ]


def scheduled_new_pod(kube: Kube, name: str, old_uids: set[str], timeout_s: float = 120) -> dict:
    def fresh() -> dict | None:
        new = [p for p in pods_of(kube, name) if p["metadata"]["uid"] not in old_uids]
        return new[0] if new and new[0]["spec"].get("nodeName") else None

    return kube.wait_for(f"a restarted {name} pod scheduled", fresh, timeout_s)


def ready_alone(kube: Kube, name: str, uid: str, timeout_s: float = 300) -> None:
    def done() -> bool:
        pods = pods_of(kube, name)
        return len(pods) == 1 and pods[0]["metadata"]["uid"] == uid and ready(pods[0])

    kube.wait_for(f"the restarted {name} pod Ready, the old one gone", done, timeout_s)


@pytest.fixture
def spot_node(deployed: Deployment):
    kube = deployed.kube
    script = str(ROOT / "tools/cluster/spot-node.sh")
    try:
        run([script, "up"], kube.env, 180)
        images = {
            c["image"]
            for name in SPOT_TOLERATING
            for p in pods_of(kube, name)
            for c in p["spec"]["containers"]
        }
        run([script, "load", *sorted(images)], kube.env, 600)
        yield SPOT_NODE
    finally:
        run([script, "down"], kube.env, 300)
        for name in (*SPOT_TOLERATING, "orchestrator"):
            kube.wait_for(
                f"{name} Ready again", lambda n=name: (p := pods_of(kube, n)) and all(map(ready, p)), 300
            )


def test_only_the_tolerating_workloads_run_on_the_spot_pool(deployed: Deployment, spot_node: str) -> None:
    kube = deployed.kube
    restarted = (*SPOT_TOLERATING, "orchestrator")
    before = {name: {p["metadata"]["uid"] for p in pods_of(kube, name)} for name in restarted}
    started = time.monotonic()
    for name in restarted:
        kube("rollout", "restart", f"deployment/{name}")
    new = {name: scheduled_new_pod(kube, name, before[name]) for name in restarted}
    placed = {name: pod["spec"]["nodeName"] for name, pod in new.items()}
    assert placed == {"dataflow": spot_node, "kafkaflow": spot_node, "orchestrator": CONTROL_PLANE}, placed
    for name, pod in new.items():  # and they run there
        ready_alone(kube, name, pod["metadata"]["uid"])
    elapsed = time.monotonic() - started

    on_spot = kube.json("get", "pods", "--field-selector", f"spec.nodeName={spot_node}")["items"]
    apps = {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in on_spot}
    assert apps and not apps & set(NOT_TOLERATING), apps
    # Placed by GKE's spot label and taint, which the manifests' tolerations and affinity name.
    node = kube.json("get", "node", spot_node, namespace=None)
    assert node["metadata"]["labels"].get("cloud.google.com/gke-spot") == "true"
    spot_taint = {"key": "cloud.google.com/gke-spot", "value": "true", "effect": "NoSchedule"}
    assert spot_taint in node["spec"]["taints"]
    print(
        f"\nspot pool: {placed} (restarted and Ready in {elapsed:.0f}s); pods on {spot_node}: {sorted(apps)}"
    )
