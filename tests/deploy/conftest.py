"""Fixtures of the static deployment tests (no cluster, no network): rendered manifests.

The Secrets of k8s/secrets/ are git-ignored and generated, so the manifests are rendered from a
temporary copy of k8s/ in which generate-dev-secrets.sh has run; the checkout is never written.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.deploy_lib import K8S, OVERLAYS, Rendered, kustomize


@pytest.fixture(scope="session")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of k8s/ with dev secrets generated in it (as an operator's checkout would have)."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is required for the deployment tests (it carries kustomize)")
    copy = tmp_path_factory.mktemp("deploy") / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("dev-secrets.env", "*-secrets.yaml"))
    result = subprocess.run(
        ["bash", str(copy / "secrets" / "generate-dev-secrets.sh")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return copy


@pytest.fixture(scope="session")
def rendered(k8s_copy: Path) -> dict[str, Rendered]:
    return {overlay: Rendered(overlay, kustomize(k8s_copy / "overlays" / overlay)) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def variant(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    return rendered[request.param]


@pytest.fixture
def full_variant(rendered: dict[str, Rendered]) -> Rendered:
    """The variant that runs the production topology (3-node stores, autoscaling, monitoring)."""
    return rendered["prod"]
