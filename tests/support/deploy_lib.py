"""Helpers of the static deployment tests: paths, rendering with kustomize, pod accessors.

The Secrets of k8s/secrets/ are git-ignored and generated, so the manifests are rendered from a
temporary copy of k8s/ in which generate-dev-secrets.sh has run; the checkout is never written.
"""

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
OVERLAYS = ("dev", "prod")

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}


@dataclass
class Rendered:
    name: str
    objects: list[dict] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        matches = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert matches, f"{self.name}: no {kind} {name}"
        return matches[0]

    def workloads(self) -> list[dict]:
        return [o for o in self.objects if o["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: dict) -> dict:
    return pod_template(workload)["spec"]


def pod_template(workload: dict) -> dict:
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"]


def containers(workload: dict, init: bool = True) -> list[dict]:
    spec = pod_spec(workload)
    return list(spec["containers"]) + (list(spec.get("initContainers", [])) if init else [])


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def kustomize(path: Path, *extra: str) -> list[dict]:
    result = subprocess.run(
        ["kubectl", "kustomize", *extra, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]
