"""Alice deployed by `skaffold run` into the local cluster, used through skaffold's port-forwards:
the chat flow with the real local model, a document indexed and cited, Pod Security `restricted`
enforced, and the prod overlay accepted by the real API server (its CRDs installed)."""

import json

import pytest

from tests.support import smoke
from tests.support.kube import NAMESPACE, Deployment, Kube, run

PROBE = "alice-offline/debian:bookworm"
PRIVILEGED = {"privileged": True}
pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]


def test_a_fresh_deploy_with_the_stores_last_restarts_nothing(deployed: Deployment) -> None:
    """Issue 22: `skaffold run` into an empty namespace, the stores held back until the services
    had run without them (conftest.py), passes its status check without
    `--tolerate-failures-until-deadline`, and no container restarted on the way to Ready."""
    assert deployed.stores_held_s >= 20, deployed.stores_held_s
    assert deployed.restarts_at_ready, "no containers counted"
    restarted = {name: count for name, count in deployed.restarts_at_ready.items() if count}
    assert restarted == {}, restarted


async def test_sign_up_and_a_reply_streams_and_resumes_after_last_event_id(deployed: Deployment) -> None:
    await smoke.a_reply_streams_token_by_token_and_resumes(deployed.url, "cluster", direct=False)


async def test_an_upload_is_indexed_and_the_answer_cites_it(deployed: Deployment) -> None:
    await smoke.an_upload_is_indexed_and_the_answer_cites_it(deployed.url, "cluster-docs", direct=False)


def test_the_namespace_enforces_restricted_and_every_pod_is_admitted(deployed: Deployment) -> None:
    kube = deployed.kube
    labels = kube.json("get", "namespace", NAMESPACE, namespace=None)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = kube.json("get", "pods")["items"]
    assert len(pods) >= 9
    # The API server re-checks every running pod against the level: a violation is a warning here.
    check = kube(
        "label",
        "--dry-run=server",
        "--overwrite",
        "namespace",
        NAMESPACE,
        "pod-security.kubernetes.io/enforce=restricted",
        namespace=None,
    )
    assert "violate" not in check.stderr and "Warning" not in check.stderr, check.stderr
    # And enforcement is real: a pod that is not restricted is refused.
    refused = kube(
        "run",
        "psa-probe",
        f"--image={PROBE}",
        "--restart=Never",
        "--overrides",
        json.dumps(
            {"spec": {"containers": [{"name": "psa-probe", "image": PROBE, "securityContext": PRIVILEGED}]}}
        ),
        check=False,
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


def test_the_prod_overlay_passes_a_server_side_dry_run_with_its_crds(deployed: Deployment) -> None:
    """Every object of the prod overlay, as the API server would create it: in a namespace of its
    own (the dev deployment's StatefulSets in `alice` have other, immutable volume claims), with
    the same Pod Security labels, so admission (PSA, KEDA's webhook, the CRD schemas) is real."""
    kube: Kube = deployed.kube
    rendered = run(["kubectl", "kustomize", "k8s/overlays/prod"], kube.env, 120).stdout
    kinds = {line.split(":", 1)[1].strip() for line in rendered.splitlines() if line.startswith("kind:")}
    assert {
        "ScaledObject",
        "ServiceMonitor",
        "PrometheusRule",
        "ClusterIssuer",
        "HorizontalPodAutoscaler",
        "Rollout",
        "AnalysisTemplate",
    } <= kinds
    docs = [doc.strip("\n") + "\n" for doc in rendered.split("\n---\n") if "kind:" in doc]
    namespace = next(doc for doc in docs if "\nkind: Namespace\n" in f"\n{doc}")
    objects = [doc for doc in docs if doc is not namespace]
    check = NAMESPACE + "-prod-check"
    kube(
        "apply",
        "-f",
        "-",
        input=namespace.replace(f"name: {NAMESPACE}\n", f"name: {check}\n"),
        namespace=None,
    )
    try:
        moved = "---\n".join(objects).replace(f"namespace: {NAMESPACE}\n", f"namespace: {check}\n")
        result = kube("apply", "--dry-run=server", "-f", "-", input=moved, timeout=300, namespace=None)
    finally:
        kube("delete", "namespace", check, "--wait=false", namespace=None, check=False)
    applied = [line for line in result.stdout.splitlines() if line.endswith("(server dry run)")]
    assert len(applied) == len(objects), result.stdout[-3000:]
    assert "PodSecurity" not in result.stderr, result.stderr


REFUSED = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 1), timeout=5).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as exc:
    print(type(exc).__name__, exc)
"""


def test_a_service_address_kube_proxy_did_not_translate_is_refused_in_the_node(deployed: Deployment) -> None:
    """Decision 0054: a connection to a Service's address that kube-proxy does not translate (here a
    port the Service does not have; in the chaos tests, a Service between losing its last ready pod
    and kube-proxy's next sync) is refused on the node, never sent on to the host's network, which
    would answer it."""
    kube = deployed.kube
    address = kube.json("get", "service", "orchestrator")["spec"]["clusterIP"]
    pods = kube.pods("app.kubernetes.io/name=backend")
    backend = next(p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running")
    probe = kube("exec", backend, "--", "python", "-c", REFUSED, address, timeout=60)
    assert probe.stdout.strip() == "refused", probe.stdout + probe.stderr
