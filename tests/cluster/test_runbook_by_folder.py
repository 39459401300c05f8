"""The operations runbook's folder-by-folder deployment (docs/operations.md, "Production, folder by
folder"), its commands read from the doc and run as written against the real API server: the
namespace, `kubectl apply -f k8s/<folder>/ -n alice` in the documented order and each
`kubectl wait`. Runs last among the cluster tests (conftest.py): it replaces skaffold's deployment
in the namespace `alice` and removes its own at the end.

The folders are applied from a copy of k8s/ fitted to the test node, because the base as it is
(three-member stores, production requests, registry images) cannot run on one 1.5-CPU node without
a registry. Each folder of the copy holds exactly the objects of the same folder in k8s/, as
tests/cluster/overlay renders them (the dev overlay's sizes, the offline images, the Mongo-protocol
stand-in); folders the dev overlay leaves out (HPAs, KEDA, monitoring, cert-manager, backups) are
copied unchanged. So the test checks the runbook itself: the order, that each folder applies on its
own, the labels and names the waits select, and that everything comes up Ready."""

import json
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.support import runbook
from tests.support.composestack import alice_image
from tests.support.kube import CONTEXT, NAMESPACE, ROOT, SERVICES, WORKLOADS, Deployment, Kube, run

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

STATEFULSETS = {"kafka", "mongodb", "weaviate"}
READY = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/ready').read().decode())"
RUNBOOK_HEADING = "Production, folder by folder"
# Cluster-scoped objects the runbook creates, removed again at the end.
CLUSTER_SCOPED = [("clusterissuer", "letsencrypt-prod")]


def source_folders() -> dict[tuple[str, str], str]:
    """(kind, name) of every object in k8s/<folder>/*.yaml -> its folder."""
    folders = {}
    for path in sorted((ROOT / "k8s").glob("*/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "metadata" in doc:
                folders[(doc["kind"], doc["metadata"]["name"])] = path.parent.name
    return folders


def fitted_copy(kube: Kube, dest: Path) -> None:
    """dest/k8s/<folder>/objects.yaml: the test overlay's rendering, split back into the folders."""
    rendered = run(["kubectl", "kustomize", "tests/cluster/overlay"], kube.env, 120).stdout
    folders = source_folders()
    by_folder: dict[str, list[dict]] = {}
    for doc in yaml.safe_load_all(rendered):
        folder = folders.get((doc["kind"], doc["metadata"]["name"]))
        assert folder, f"{doc['kind']}/{doc['metadata']['name']} is in no k8s/ folder"
        by_folder.setdefault(folder, []).append(doc)
    for folder in set(folders.values()):
        (dest / "k8s" / folder).mkdir(parents=True)
        if folder in by_folder:
            (dest / "k8s" / folder / "objects.yaml").write_text(yaml.safe_dump_all(by_folder[folder]))
        else:
            for path in (ROOT / "k8s" / folder).glob("*.yaml"):
                shutil.copy2(path, dest / "k8s" / folder / path.name)


def release_images(deployed: Deployment) -> None:
    """The images skaffold built, under the names and tag the base names (alice/<service>:APP_VERSION).

    Named in the node, where the deployment runs them: Docker may no longer hold an image skaffold
    replaced during the `skaffold dev` test (its rollout undo returns to the earlier one)."""
    kube = deployed.kube
    for service in SERVICES:
        built = kube("get", "deployment", service, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
        run(["tools/cluster/cluster.sh", "tag", built.stdout.strip(), alice_image(service)], kube.env, 60)


def test_folder_by_folder_runbook_deploys_alice(deployed: Deployment, tmp_path: Path) -> None:
    kube = deployed.kube
    release_images(deployed)
    kube.delete_namespace()  # skaffold's deployment: the runbook deploys into the same namespace
    commands = runbook.commands(RUNBOOK_HEADING)
    assert commands[1] == "k8s/secrets/generate-dev-secrets.sh", commands[:2]
    run(["k8s/secrets/generate-dev-secrets.sh"], kube.env, 60)
    fitted_copy(kube, tmp_path)
    try:
        for command in commands:
            argv = shlex.split(command)
            if argv[0] != "kubectl":
                continue  # the secrets script, run above so the copy holds its Secrets
            if argv[1:3] == ["create", "namespace"]:
                # The documented alternative, with the namespace's Pod Security labels: every pod
                # below must be admitted under `restricted`.
                argv = ["kubectl", "apply", "-f", "k8s/namespace/"]
            if "k8s/istio/" in argv:
                continue  # optional, only with Istio (no Istio here)
            argv = [str(tmp_path / a) if a.startswith("k8s/") else a for a in argv]
            run([argv[0], "--context", CONTEXT, *argv[1:]], kube.env, 420)

        namespace = kube.json("get", "namespace", NAMESPACE, namespace=None)
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        for name in WORKLOADS:
            kind = "statefulset" if name in STATEFULSETS else "deployment"
            kube("rollout", "status", f"{kind}/{name}", "--timeout=600s", timeout=660)
        # /ready answers 200 only when Kafka, Redis and the Mongo-protocol store are reachable.
        ready = kube("exec", "deployment/backend", "--", "python", "-c", READY, timeout=60)
        assert json.loads(ready.stdout)["status"] in ("ready", "degraded"), ready.stdout
    finally:
        kube.delete_namespace(check=False)
        for kind, name in CLUSTER_SCOPED:
            kube("delete", kind, name, "--ignore-not-found", namespace=None, check=False)
