"""The rollout part of the operations runbook (docs/operations.md, "Scaling" and "Rolling update
and rollback"), run as written against the deployed backend: `kubectl scale`, `kubectl set image`
to a second tag, `kubectl rollout status`, `kubectl rollout undo`. Runs last (file order)."""

import httpx
import pytest

from tests.support.kube import Deployment, ready, run

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]


def healthy(deployed: Deployment) -> bool:
    try:
        return (
            httpx.get(f"http://127.0.0.1:{deployed.ports['backend']}/health", timeout=10).status_code == 200
        )
    except httpx.HTTPError:
        return False


def test_scale_set_image_rollout_status_and_undo(deployed: Deployment) -> None:
    kube = deployed.kube
    deployment = kube.json("get", "deployment", "backend")
    first_image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]

    kube("scale", "deployment", "backend", "--replicas=2")
    kube("rollout", "status", "deployment/backend", "--timeout=600s", timeout=660)
    pods = kube.pods("app.kubernetes.io/name=backend")
    assert len([p for p in pods if ready(p)]) == 2

    # A second tag of the same build stands in for the next release.
    second_image = f"{first_image.rsplit(':', 1)[0]}:runbook-second"
    run(["docker", "tag", first_image, second_image], kube.env, 60)
    try:
        run(["tools/cluster/cluster.sh", "load", second_image], kube.env, 900)
        kube("set", "image", "deployment/backend", f"backend={second_image}")
        kube("rollout", "status", "deployment/backend", "--timeout=600s", timeout=660)
        assert kube.images("app.kubernetes.io/name=backend") == {second_image}
        # skaffold re-establishes its forward to the new pod: the new version answers through it.
        kube.wait_for("the new backend answering through the port-forward", lambda: healthy(deployed), 180)

        kube("rollout", "undo", "deployment/backend")
        kube("rollout", "status", "deployment/backend", "--timeout=600s", timeout=660)
        assert kube.images("app.kubernetes.io/name=backend") == {first_image}
        history = kube("rollout", "history", "deployment/backend").stdout
        assert len([line for line in history.splitlines() if line[:1].isdigit()]) >= 2, history
    finally:
        run(["docker", "rmi", second_image], kube.env, 60, check=False)
        kube("scale", "deployment", "backend", "--replicas=1", check=False)
