"""Alice on a real Kubernetes cluster (issue 10): the local single-node cluster of tools/cluster
(`make cluster-up`, kube-context kind-alice), Alice built and deployed into it by
`skaffold run --port-forward` with the dev overlay (through tests/cluster/overlay, see there),
used through skaffold's port-forwards on 127.0.0.1.

`make test` brings the cluster up when it is not running (scripts/test.sh) and sets
ALICE_TEST_CLUSTER=1, which turns a missing cluster into a failure; elsewhere these tests are
skipped with the reason in the summary. ALICE_TEST_CLUSTER=0 skips them.
"""

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.image_builds import one_build_at_a_time
from tests.support.kube import (
    FORWARD,
    ROOT,
    STORES,
    WORKLOADS,
    Deployment,
    Kube,
    ready,
    remove_stale_images,
    restarts,
    run,
    skaffold_argv,
    start_skaffold,
    stop_skaffold,
    stores_held_back,
)

SKAFFOLD_DEADLINE_S = 3600  # a cold first build of the images; a warm one takes a few minutes
# How long the services run with no store before the stores may start: several of their retries.
STORES_HELD_S = 30
APP_SERVICES = ("backend", "orchestrator", "dataflow", "kafkaflow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    if not ours:
        return
    # The folder-by-folder runbook replaces skaffold's deployment: it runs after the other tests.
    # The alerts are induced right after the deploy checks, before tests that provoke errors, slow
    # requests or restarts of their own: a leftover alert would have to end first (up to the rules'
    # 5-minute windows), since each must be seen to fire because of what the test does.
    # The canary releases hand the backend's and the orchestrator's pods to Rollouts for a while:
    # after the tests that act on those Deployments.
    order = {
        "test_deploy.py": 0,
        "test_monitoring.py": 1,
        "test_canary.py": 2.5,
        "test_runbook_by_folder.py": 3,
    }
    positions = [items.index(item) for item in ours]
    ordered = sorted(ours, key=lambda item: order.get(item.path.name, 2))
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item
    reason = _unavailable(_env())
    if reason is None or os.environ.get("ALICE_TEST_CLUSTER") == "1":
        return  # when required, the session fixture fails with the reason
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=f"cluster: {reason}"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    cache = Path(env.get("ALICE_CACHE_DIR", Path.home() / ".cache/alice"))
    env["KUBECONFIG"] = str(cache / "cluster/kubeconfig")
    # As scripts/compose.sh does: the machine's CA bundle is the build secret `ca` (skaffold.yaml).
    if not env.get("ALICE_BUILD_CA_FILE") and Path(env.get("SSL_CERT_FILE", "/nonexistent")).is_file():
        env["ALICE_BUILD_CA_FILE"] = env["SSL_CERT_FILE"]
    # skaffold loads images into a kind-* context with `kind load docker-image`: the stand-in.
    # kubectl of the cluster's own version (the machine's may be too old for its API), then skaffold.
    kubectl_dir = next((cache / "cluster/bin").glob("kubernetes-*"), None)
    path = [str(ROOT / "tools/cluster"), str(Path.home() / ".local/bin"), env["PATH"]]
    env["PATH"] = ":".join(([str(kubectl_dir)] if kubectl_dir else []) + path)
    return env


def _unavailable(env: dict[str, str]) -> str | None:
    if os.environ.get("ALICE_TEST_CLUSTER") == "0":
        return "ALICE_TEST_CLUSTER=0"
    for tool in ("kubectl", "skaffold", "docker"):
        if subprocess.run(["which", tool], capture_output=True, env=env).returncode != 0:
            return f"no {tool} on PATH (make cluster-up; scripts/skaffold.sh)"
    try:
        status = subprocess.run(
            ["tools/cluster/cluster.sh", "status"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "the cluster does not answer"
    if status.returncode != 0:
        detail = f"{status.stdout.strip()} {status.stderr.strip()[-300:]}"
        return f"no local cluster running (make cluster-up): {detail}"
    return None


@pytest.fixture(scope="session")
def kube() -> Kube:
    env = _env()
    reason = _unavailable(env)
    if reason is not None:
        pytest.fail(f"cluster: {reason}")
    return Kube(env)


def _offline(env: dict[str, str]) -> bool:
    mode = env.get("ALICE_OFFLINE_IMAGES", "auto")
    if mode == "auto":
        return (
            subprocess.run(["scripts/offline-images.sh", "needed"], cwd=ROOT, env=env, timeout=120).returncode
            == 0
        )
    return mode in ("1", "yes", "true")


def _print(request: pytest.FixtureRequest, text: str) -> None:
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(text, flush=True)


def _skaffold_running(proc, log_path: Path) -> None:
    if proc.poll() is not None:
        text = log_path.read_text(errors="replace")
        pytest.fail(f"skaffold run exited {proc.returncode}:\n{text[-5000:]}")


def _services_waiting_without_stores(kube: Kube, proc, log_path: Path, deadline: float) -> float:
    """Waits until every service container has started (its startup probe, `/health`, passed)
    while no store pod runs, then keeps them so for STORES_HELD_S; returns how long the stores
    were held back after the services had started."""

    def started() -> bool:
        _skaffold_running(proc, log_path)
        assert time.monotonic() < deadline, "the services did not start"
        pods = [kube.pods(f"app.kubernetes.io/name={name}") for name in APP_SERVICES]
        statuses = [c for group in pods for p in group for c in p["status"].get("containerStatuses", [])]
        return all(pods) and bool(statuses) and all(c.get("started") for c in statuses)

    while not started():
        time.sleep(3)
    since = time.monotonic()
    while time.monotonic() - since < STORES_HELD_S:
        running = [
            p["metadata"]["name"]
            for name in STORES
            for p in kube.pods(f"app.kubernetes.io/name={name}")
            if p.get("status", {}).get("phase") == "Running"
        ]
        assert not running, f"stores running although held back: {running}"
        _skaffold_running(proc, log_path)
        time.sleep(3)
    return time.monotonic() - since


@pytest.fixture(scope="session")
def deployed(kube: Kube, request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Deployment]:
    """`skaffold run --port-forward` of the test overlay, every workload Ready; the namespace is
    deleted at the end (PVCs with it)."""
    env = kube.env
    started = time.monotonic()
    run(["k8s/secrets/generate-dev-secrets.sh"], env, 60)
    # The test overlay runs the third-party images' local equivalents (see tests/cluster/overlay);
    # the images' own bases come from a registry when one answers.
    run(["tools/cluster/cluster.sh", "load-offline"], env, 1800)
    profiles = "offline,cluster-test" if _offline(env) else "cluster-test"
    kube.delete_namespace()
    log_path = tmp_path_factory.mktemp("skaffold") / "skaffold.log"
    argv = skaffold_argv("run", profiles, "--port-forward=user")
    deployment = Deployment(kube, profiles)
    # skaffold builds, then deploys; the container tests build only once it forwards its ports.
    builds = contextlib.ExitStack()
    builds.enter_context(one_build_at_a_time("cluster: skaffold run"))
    deadline = time.monotonic() + SKAFFOLD_DEADLINE_S
    # The stores start last (issue 22): the services run first with nothing to connect to, and
    # must wait for them without a restart, which skaffold would report as a failed deploy.
    try:
        with stores_held_back(kube) as release_stores:
            proc = start_skaffold(argv, ROOT, env, log_path)
            try:
                held = _services_waiting_without_stores(kube, proc, log_path, deadline)
                release_stores()
                deployment.stores_held_s = held
            except BaseException:
                stop_skaffold(proc, 60)
                raise
    except BaseException:
        builds.close()
        raise
    try:
        while set(deployment.ports) < {"frontend", "backend"}:
            text = log_path.read_text(errors="replace")
            deployment.ports = {name: int(port) for name, port in FORWARD.findall(text)}
            if proc.poll() is not None:
                pytest.fail(f"skaffold run exited {proc.returncode}:\n{text[-5000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"skaffold run: no port-forwards within {SKAFFOLD_DEADLINE_S}s:\n{text[-5000:]}")
            time.sleep(2)
        builds.close()
        for name in WORKLOADS:
            pods = kube.pods(f"app.kubernetes.io/name={name}")
            assert pods and all(ready(p) for p in pods), f"{name}: {[p['status'].get('phase') for p in pods]}"
        deployment.restarts_at_ready = restarts(kube)
        _print(
            request,
            f"\ncluster: skaffold run -p {profiles}: deployed and Ready in "
            f"{time.monotonic() - started:.0f}s (stores held back {deployment.stores_held_s:.0f}s), "
            f"forwards {deployment.ports}, restarts {sum(deployment.restarts_at_ready.values())}",
        )
        yield deployment
    finally:
        builds.close()
        stop_skaffold(proc, 60)
        removed = remove_stale_images(kube)
        _print(request, f"\ncluster: removed {len(removed)} local image tags no pod runs any more")
        kube.delete_namespace(check=False)
