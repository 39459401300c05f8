"""What the cluster tests share: kubectl against the local cluster's context, and the `skaffold run
--port-forward` session that deployed Alice into it."""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = "kind-alice"
NAMESPACE = "alice"
SERVICES = ["backend", "orchestrator", "dataflow", "kafkaflow", "frontend", "inference"]
STORES = ["redis", "kafka", "mongodb", "weaviate"]
WORKLOADS = SERVICES + STORES
# skaffold v2: "Port forwarding service/frontend in namespace alice, remote port 3000 -> http://127.0.0.1:13000"
FORWARD = re.compile(
    r"Port forwarding service/(\S+) in namespace \S+, remote port \d+ -> (?:http://)?127\.0\.0\.1:(\d+)"
)


def run(argv: list[str], env: dict[str, str], timeout: float, check: bool = True, input: str | None = None):
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, input=input
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def skaffold_argv(command: str, profiles: str, *flags: str) -> list[str]:
    argv = ["skaffold", command, "-p", profiles, "--kube-context", CONTEXT, *flags]
    # The documented commands, as written: no `--tolerate-failures-until-deadline`. The services
    # wait for the stores without exiting (alice_common.startup), so a restart fails the deploy.
    argv += ["--status-check=true"]
    # One run-id for every session: a second one (test_skaffold_dev.py) then applies identical pod
    # templates and only what it rebuilt rolls out, where a fresh run-id label would roll them all.
    argv += ["--label", "skaffold.dev/run-id=alice-cluster-tests"]
    return [*argv, "--interactive=false", "--update-check=false"]


def start_skaffold(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """skaffold in its own process group (its port-forwards and builds are its children)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_skaffold(proc: subprocess.Popen, grace_s: float) -> None:
    """Ctrl+C as a user would (skaffold ends its forwards and watchers), SIGKILL after grace_s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


@dataclass
class Kube:
    """kubectl with the cluster's kubeconfig and context, namespace `alice` unless told."""

    env: dict[str, str]

    def __call__(
        self,
        *args: str,
        timeout: float = 120,
        check: bool = True,
        input: str | None = None,
        namespace: str | None = NAMESPACE,
    ):
        argv = ["kubectl", "--context", CONTEXT]
        if namespace:
            argv += ["-n", namespace]
        return run([*argv, *args], self.env, timeout, check, input)

    def json(self, *args: str, timeout: float = 120, namespace: str | None = NAMESPACE) -> dict:
        return json.loads(self(*args, "-o", "json", timeout=timeout, namespace=namespace).stdout)

    def pods(self, selector: str) -> list[dict]:
        return self.json("get", "pods", "-l", selector)["items"]

    def delete_namespace(self, check: bool = True) -> None:
        """The test namespace and everything in it, waited for (a redeploy starts from nothing)."""
        self("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait", "--timeout=300s",
             namespace=None, timeout=360, check=check)  # fmt: skip

    def images(self, selector: str) -> set[str]:
        """The container images of the pods that are not being deleted."""
        pods = [p for p in self.pods(selector) if not p["metadata"].get("deletionTimestamp")]
        return {c["image"] for p in pods for c in p["spec"]["containers"]}

    def wait_for(self, what: str, predicate, timeout_s: float, interval_s: float = 2.0):
        """Polls predicate() until it returns something truthy; fails with `what` after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f}s"
            time.sleep(interval_s)


def live_pods(kube: Kube, name: str) -> list[dict]:
    """The pods of the workload `name` that are not being deleted."""
    return [
        p for p in kube.pods(f"app.kubernetes.io/name={name}") if not p["metadata"].get("deletionTimestamp")
    ]


def ready(pod: dict) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restarts(kube: Kube) -> dict[str, int]:
    """Container restarts per `pod/container` in the namespace (init containers too)."""
    counts = {}
    for pod in kube.json("get", "pods")["items"]:
        status = pod.get("status", {})
        for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
            counts[f"{pod['metadata']['name']}/{container['name']}"] = container.get("restartCount", 0)
    return counts


# The stores' volumes come from the local-path provisioner: without it their pods stay Pending.
PROVISIONER = ("local-path-storage", "deployment/local-path-provisioner")


@contextlib.contextmanager
def stores_held_back(kube: Kube):
    """While inside, no store pod can start (its volume is not provisioned); the services can.
    Yields `release()`, which lets the stores start; on leaving they are released in any case."""
    namespace, provisioner = PROVISIONER
    replicas = kube.json("get", provisioner, namespace=namespace)["spec"].get("replicas", 1) or 1
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            kube("scale", provisioner, f"--replicas={replicas}", namespace=namespace)
            released = True

    kube("scale", provisioner, "--replicas=0", namespace=namespace)
    try:
        yield release
    finally:
        release()


@dataclass
class Deployment:
    """Alice as `skaffold run --port-forward` deployed it: the forwarded local ports by service,
    and the container restarts counted once every workload was Ready."""

    kube: Kube
    profiles: str
    ports: dict[str, int] = field(default_factory=dict)
    restarts_at_ready: dict[str, int] = field(default_factory=dict)
    stores_held_s: float = 0.0

    @property
    def url(self) -> str:
        """The frontend's nginx, forwarded: the public entry point."""
        return f"http://127.0.0.1:{self.ports['frontend']}"


def remove_stale_images(kube: Kube) -> list[str]:
    """Removes the local alice/* images no pod of the cluster runs: earlier deployments' builds,
    which skaffold tags by commit and by image ID and, with its artifact cache on, never prunes.
    Keeps compose's images (tagged with the app version) and the container tests' skaffold build
    (`ctest-*`), which may be running beside the cluster stage. Returns the removed references."""
    from devstack.versions import PINS

    listed_pods = kube("get", "pods", "-A", "-o", "json", namespace=None, check=False)
    if listed_pods.returncode != 0:
        return []  # not knowing what runs, remove nothing
    pods = json.loads(listed_pods.stdout)["items"]
    running = {c["image"] for p in pods for c in p["spec"]["containers"]}
    listed = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"], kube.env, 60).stdout
    refs_by_id: dict[str, set[str]] = {}
    for line in listed.splitlines():
        ref, image_id = line.split()
        if ref.startswith("alice/"):
            refs_by_id.setdefault(image_id, set()).add(ref)

    def kept(ref: str) -> bool:
        tag = ref.rsplit(":", 1)[1]
        return ref in running or tag == PINS["APP_VERSION"] or tag.startswith("ctest-")

    stale = sorted(ref for refs in refs_by_id.values() if not any(map(kept, refs)) for ref in refs)
    if stale:
        run(["docker", "rmi", *stale], kube.env, 600, check=False)
    return stale
