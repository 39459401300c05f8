"""`make cluster-dev` (issue 21: the one command for the cluster mode, as README.md and
docs/operations.md give it) brings the app up on its own port-forwards, and its `skaffold dev`
rebuilds and rolls out a code change (issue 10), against the deployment the other cluster tests
used. It runs in a copy of the checkout, so editing code never touches the developer's files. Runs
after the other cluster tests (file order).

With `push: false`, skaffold deploys each image under its image ID, so the copy's first dev
iteration finds every image already built and deployed (identical content, identical ID) and only
the edited service is rebuilt and rolled out."""

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from devstack.versions import PINS

from tests.support.image_builds import one_build_at_a_time
from tests.support.kube import FORWARD, ROOT, STORES, Deployment, Kube, start_skaffold, stop_skaffold

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

WATCHING = "Watching for changes..."
EDITED_FILE = "services/backend/alice_backend/main.py"
ORIGINAL_VERSION = "version=APP_VERSION"  # versions.env's APP_VERSION, through alice_common.version
EDITED_VERSION = f"{PINS['APP_VERSION']}+edited-under-skaffold-dev"


def copy_checkout(dest: Path) -> None:
    """Tracked and untracked (not ignored) files as they are now, git metadata (skaffold's tagger)
    and the generated, git-ignored Secrets the deployment already uses."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT / ".git", dest / ".git", symlinks=True)
    shutil.copytree(ROOT / "k8s/secrets", dest / "k8s/secrets", dirs_exist_ok=True)


def store_pods(kube: Kube) -> set[str]:
    """The pods (by UID) of the stores, which no earlier test changed the templates of: the other
    workloads' live objects may differ from the manifests (the scaling tests patch them), and
    skaffold dev's first deploy rightly puts the manifests back."""
    return {p["metadata"]["uid"] for p in kube.pods(f"app.kubernetes.io/name in ({','.join(STORES)})")}


def served_version(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10)
        return response.json()["info"]["version"] if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def frontend_answers(port: int) -> bool:
    """The app as a browser opens it: nginx's page, and the API behind it."""
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        api = httpx.get(f"http://127.0.0.1:{port}/api/conversations", timeout=10)
        return page.status_code == 200 and 'id="root"' in page.text and api.status_code == 401
    except httpx.HTTPError:
        return False


def cluster_dev_argv() -> list[str]:
    """The documented command. The flags only keep the test's shared deployment as it is: the
    run-id every test session uses (kube.skaffold_argv), no cleanup or image pruning on exit."""
    flags = "--label skaffold.dev/run-id=alice-cluster-tests --cleanup=false --no-prune=true"
    return ["make", "cluster-dev", f"SKAFFOLD_FLAGS={flags} --interactive=false --update-check=false"]


@pytest.fixture
def builds_alone() -> Iterator[None]:
    """cluster-dev builds twice; not while the container tests build (tests/support/image_builds.py)."""
    with one_build_at_a_time("cluster: make cluster-dev"):
        yield


def test_make_cluster_dev_serves_the_app_and_rolls_out_a_code_change(
    deployed: Deployment, tmp_path: Path, builds_alone: None
) -> None:
    kube = deployed.kube
    stores_before = store_pods(kube)
    checkout = tmp_path / "alice"
    copy_checkout(checkout)
    log_path = tmp_path / "cluster-dev.log"
    # The same profiles as the deployment (the same choice cluster-dev makes by itself here).
    env = {**kube.env, "ALICE_CLUSTER_PROFILES": deployed.profiles}
    started = time.monotonic()
    proc = start_skaffold(cluster_dev_argv(), checkout, env, log_path)

    def watching(times: int) -> bool:
        text = log_path.read_text(errors="replace")
        assert proc.poll() is None, f"make cluster-dev exited {proc.returncode}:\n{text[-5000:]}"
        return text.count(WATCHING) >= times

    try:
        kube.wait_for(
            "make cluster-dev's first skaffold dev iteration", lambda: watching(1), 1200, interval_s=3
        )
        ports = {name: int(port) for name, port in FORWARD.findall(log_path.read_text(errors="replace"))}
        assert set(ports) >= {"frontend", "backend"}, ports
        # Its own forwards, beside those of the deployment's `skaffold run` (which hold 13000/18000).
        assert ports["frontend"] != deployed.ports["frontend"], ports
        kube.wait_for(
            "the app answering through cluster-dev's forward",
            lambda: frontend_answers(ports["frontend"]),
            180,
        )
        answered = time.monotonic() - started
        print(
            f"\nmake cluster-dev: the app answers on :{ports['frontend']}, {answered:.0f}s after the command"
        )
        before = kube.images("app.kubernetes.io/name=backend")
        assert store_pods(kube) == stores_before, "skaffold dev's first deploy restarted the stores"
        kube.wait_for(
            "the backend answering", lambda: served_version(ports["backend"]) == PINS["APP_VERSION"], 180
        )

        edited = checkout / EDITED_FILE
        source = edited.read_text()
        assert ORIGINAL_VERSION in source
        edited.write_text(source.replace(ORIGINAL_VERSION, f'version="{EDITED_VERSION}"'))
        started = time.monotonic()

        kube.wait_for("skaffold dev rebuilding after the edit", lambda: watching(2), 1200, interval_s=3)
        # skaffold applied the new image; the rollout replaces the old pod.
        kube.wait_for(
            "only the rebuilt backend running",
            lambda: (after := kube.images("app.kubernetes.io/name=backend")) and after.isdisjoint(before),
            300,
        )
        # skaffold run's forward follows the Service to the new pod: the edited code answers.
        # (Not cluster-dev's own forward: this iteration's apply also meets the test overlay's
        # finished MongoDB init Job, whose pod template is immutable, so skaffold dev skips
        # re-forwarding after it; the backend itself rolled out, as checked above.)
        kube.wait_for(
            "the edited backend answering",
            lambda: served_version(deployed.ports["backend"]) == EDITED_VERSION,
            180,
        )
        rebuilt = log_path.read_text(errors="replace").split(WATCHING, 1)[1]
        assert "alice/backend" in rebuilt
        for untouched in ("alice/frontend", "alice/orchestrator", "alice/dataflow", "alice/kafkaflow"):
            assert f"Building [{untouched}]" not in rebuilt, f"{untouched} rebuilt for a backend edit"
        print(f"\nskaffold dev: edit to rollout in {time.monotonic() - started:.0f}s")
    finally:
        stop_skaffold(proc, 120)
        # Back to the checkout's code for anything that runs after.
        kube("rollout", "undo", "deployment/backend", check=False)
        kube("rollout", "status", "deployment/backend", "--timeout=300s", timeout=360, check=False)
