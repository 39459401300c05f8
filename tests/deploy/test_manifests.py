"""k8s/ builds with kustomize (base and overlays), every object validates against the Kubernetes
schema of a current release or its CRD's schema, and the per-folder apply of docs/operations.md
("Production, folder by folder") works."""

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from tests.support.deploy_lib import K8S, REPO, kustomize, load_yaml_docs

K8S_VERSION = kubernetes_validate.latest_version()
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"

# The folders `kubectl apply -f k8s/<dir>/ -n alice` is run on (docs/operations.md, "Production,
# folder by folder"), plus the ones added.
PLAN_FOLDERS = [
    "configmaps", "secrets", "mongodb", "redis", "kafka", "weaviate",
    "orchestrator", "dataflow", "backend", "frontend", "hpa", "ingress",
]  # fmt: skip
EXTRA_FOLDERS = [
    "namespace", "kafkaflow", "policies", "autoscaling", "cert-manager", "monitoring", "backup", "istio",
    "vpa", "canary", "inference", "sso",
]  # fmt: skip
# The folders that are kustomize Components: added by the prod overlay, left out by the dev one.
COMPONENT_FOLDERS = [
    "hpa", "autoscaling", "cert-manager", "monitoring", "backup", "istio", "vpa", "canary", "sso",
]  # fmt: skip
# istio needs Istio in the cluster, sso is a provider to try single sign-on with: not even prod adds them.
OPTIONAL_COMPONENTS = {"istio", "sso"}
APPLY_EXTENSIONS = {".yaml", ".yml", ".json"}  # what `kubectl apply -f <dir>` reads
FOLDER_KUSTOMIZATION = "Kustomization"  # no extension: `kubectl apply -f <dir>` skips it


def crd_schema(obj: dict) -> dict | None:
    group_version = obj["apiVersion"].replace("/", "_")
    path = CRD_SCHEMAS / f"{group_version}_{obj['kind']}.json"
    return json.loads(path.read_text()) if path.exists() else None


@functools.cache
def kubernetes_validator(api_version: str, kind: str) -> "jsonschema.protocols.Validator":
    """kubernetes_validate.validate(strict=True), with the parsed schemas kept between objects.

    strict: unknown fields are errors, as with the API server's strict field validation.
    """
    schema_dir = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"{schema_dir}/{kind.lower()}-{group_version}.json", K8S_VERSION)
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(kind, K8S_VERSION, api_version) from None
    definitions = schema_contents(f"{schema_dir}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate(obj: dict) -> None:
    schema = crd_schema(obj)
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:
        kubernetes_validator(obj["apiVersion"], obj["kind"]).validate(obj)


def test_kubernetes_schema_version_is_current() -> None:
    major, minor = (int(x) for x in K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 33)


def test_every_rendered_object_validates(variant) -> None:
    failures = []
    for obj in variant.objects:
        try:
            validate(obj)
        except jsonschema.ValidationError as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{obj['kind']} ({obj['apiVersion']}): no schema (add one to crd_schemas/)")
    assert not failures, "\n".join(failures)
    assert len(variant.objects) > 50


def kustomization(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_istio_component_validates_and_renders_on_top_of_prod(k8s_copy: Path, rendered) -> None:
    objects = [o for f in sorted((K8S / "istio").glob("*.yaml")) for o in load_yaml_docs(f)]
    assert [o["kind"] for o in objects] == ["VirtualService"]
    for obj in objects:
        validate(obj)
    # What docs/operations.md tells an Istio user to do: add the Component to the prod overlay.
    overlay = k8s_copy / "overlays" / "prod-with-istio"
    shutil.copytree(k8s_copy / "overlays" / "prod", overlay, dirs_exist_ok=True)
    prod = kustomization(overlay / "kustomization.yaml")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(prod | {"components": [*prod["components"], "../../istio"]})
    )
    with_istio = kustomize(overlay)
    (service,) = [o for o in with_istio if o["kind"] == "VirtualService"]
    assert service["metadata"]["namespace"] == "alice"
    assert len(with_istio) == len(rendered["prod"].objects) + 1


@pytest.mark.parametrize(
    ("kind", "path", "bad_value"),
    [
        ("ScaledObject", ["spec", "triggers", 0, "metadata", "lagThreshold"], 100),  # KEDA wants strings
        ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "15 seconds"),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0, "for"], "five minutes"),
        ("ClusterIssuer", ["spec", "acme", "server"], "http://insecure"),
        ("VerticalPodAutoscaler", ["spec", "updatePolicy", "updateMode"], "off"),
        ("Rollout", ["spec", "workloadRef", "scaleDown"], 3),
        ("AnalysisTemplate", ["spec", "metrics", 0, "failureLimit"], [1]),
    ],
)
def test_crd_schemas_reject_invalid_objects(rendered, kind, path, bad_value) -> None:
    obj = json.loads(json.dumps(rendered["prod"].of_kind(kind)[0]))
    validate(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value
    with pytest.raises(jsonschema.ValidationError):
        validate(obj)
    obj = json.loads(json.dumps(rendered["prod"].of_kind(kind)[0]))
    obj["spec"]["misspelt_field"] = "y"
    with pytest.raises(jsonschema.ValidationError):
        validate(obj)


def applicable_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in APPLY_EXTENSIONS)


@pytest.mark.parametrize("folder", PLAN_FOLDERS + EXTRA_FOLDERS)
def test_per_folder_apply_reads_only_kubernetes_objects(k8s_copy: Path, folder: str) -> None:
    files = applicable_files(k8s_copy / folder)
    assert files, f"k8s/{folder}/ has nothing to apply"
    for path in files:
        assert path.name not in {"kustomization.yaml", "kustomization.yml"}
        for obj in load_yaml_docs(path):
            assert {"apiVersion", "kind", "metadata"} <= obj.keys(), path
            assert obj["metadata"].get("name"), path
            # `-n alice` must decide the namespace: a hard-coded other one would make apply fail.
            assert obj["metadata"].get("namespace") in (None, "alice"), path
            validate(obj)


def objects_kubectl_reads(folder: Path) -> list[str]:
    """What `kubectl apply -f <folder>/` would send, as kind/name, read by kubectl itself offline."""
    result = subprocess.run(
        ["kubectl", "label", "--local", "-f", f"{folder}/", "alice.test/read=yes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(folder / "no-kubeconfig")},  # never a cluster
    )
    assert result.returncode == 0, result.stderr
    names = [line.split("/", 1) for line in result.stdout.split()]  # e.g. deployment.apps/backend
    return sorted(f"{resource.split('.')[0]}/{name}" for resource, name in names)


def objects_of(paths: list[Path]) -> list[str]:
    return sorted(f"{o['kind'].lower()}/{o['metadata']['name']}" for p in paths for o in load_yaml_docs(p))


@pytest.mark.parametrize("folder", PLAN_FOLDERS + EXTRA_FOLDERS)
def test_kubectl_applies_exactly_what_the_folder_kustomization_lists(k8s_copy: Path, folder: str) -> None:
    kustomization = yaml.safe_load((k8s_copy / folder / FOLDER_KUSTOMIZATION).read_text())
    assert kustomization["kind"] == ("Component" if folder in COMPONENT_FOLDERS else "Kustomization")
    # Only k8s/canary patches: it points the HPAs and VPAs at its Rollouts (the runbook says how by hand).
    assert set(kustomization) == {"apiVersion", "kind", "resources"} | (
        {"patches"} if folder == "canary" else set()
    )
    listed = [k8s_copy / folder / name for name in kustomization["resources"]]
    assert sorted(listed) == applicable_files(k8s_copy / folder)
    assert objects_kubectl_reads(k8s_copy / folder) == objects_of(listed)


def test_kubectl_would_read_a_kustomization_yaml(k8s_copy: Path, tmp_path: Path) -> None:
    """Why the folders' lists are named Kustomization: kubectl takes a kustomization.yaml for an object."""
    folder = tmp_path / "backend"
    shutil.copytree(k8s_copy / "backend", folder)
    (folder / FOLDER_KUSTOMIZATION).rename(folder / "kustomization.yaml")
    assert "kustomization/" in " ".join(objects_kubectl_reads(folder))


def test_plan_folders_exist_with_the_plan_files() -> None:
    expected = {
        "namespace/namespace.yaml",  # moved from k8s/ into a folder (docs/operations.md)
        "configmaps/backend-config.yaml",
        "configmaps/orchestrator-config.yaml",
        "configmaps/frontend-config.yaml",
        "secrets/generate-dev-secrets.sh",
        "mongodb/statefulset.yaml",
        "mongodb/service.yaml",
        "redis/deployment.yaml",
        "redis/service.yaml",
        "redis/pvc.yaml",
        "kafka/statefulset.yaml",
        "kafka/service.yaml",
        "weaviate/statefulset.yaml",
        "weaviate/service.yaml",
        "orchestrator/deployment.yaml",
        "orchestrator/service.yaml",
        "dataflow/deployment.yaml",
        "dataflow/service.yaml",
        "backend/deployment.yaml",
        "backend/service.yaml",
        "frontend/deployment.yaml",
        "frontend/service.yaml",
        "ingress/ingress.yaml",
        "hpa/backend-hpa.yaml",
        "hpa/orchestrator-hpa.yaml",
    }
    missing = {p for p in expected if not (K8S / p).exists()}
    assert not missing


def test_base_lists_every_folder_once_and_the_overlays_add_components() -> None:
    folders = sorted(p.name for p in K8S.iterdir() if p.is_dir() and p.name not in {"base", "overlays"})
    assert folders == sorted(PLAN_FOLDERS + EXTRA_FOLDERS)
    base = kustomization(K8S / "base" / "kustomization.yaml")
    assert sorted(base["resources"]) == sorted(f"../{f}" for f in folders if f not in COMPONENT_FOLDERS)
    assert set(base) == {"apiVersion", "kind", "resources"}
    dev = kustomization(K8S / "overlays" / "dev" / "kustomization.yaml")
    prod = kustomization(K8S / "overlays" / "prod" / "kustomization.yaml")
    assert dev["resources"] == prod["resources"] == ["../../base"]
    assert "components" not in dev
    assert sorted(prod["components"]) == sorted(
        f"../../{f}" for f in COMPONENT_FOLDERS if f not in OPTIONAL_COMPONENTS
    )


def test_prod_is_dev_plus_the_components(rendered) -> None:
    def names(objects: list[dict]) -> set[str]:
        return {f"{o['kind'].lower()}/{o['metadata']['name']}" for o in objects}

    dev, prod = names(rendered["dev"].objects), names(rendered["prod"].objects)
    components = {
        name
        for folder in COMPONENT_FOLDERS
        if folder not in OPTIONAL_COMPONENTS
        for name in objects_of(applicable_files(K8S / folder))
    }
    assert dev | components == prod
    assert not dev & components


def test_no_delete_patches_in_the_overlays() -> None:
    for overlay in ("dev", "prod"):
        for path in (K8S / "overlays" / overlay).iterdir():
            assert "$patch: delete" not in path.read_text(), path


def test_kustomization_files_are_invisible_to_the_per_folder_apply() -> None:
    found = [str(p.relative_to(K8S)) for p in K8S.rglob("kustomization.y*ml")]
    assert sorted(found) == [
        "base/kustomization.yaml",
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    ]
    assert sorted(str(p.parent.relative_to(K8S)) for p in K8S.rglob(FOLDER_KUSTOMIZATION)) == sorted(
        PLAN_FOLDERS + EXTRA_FOLDERS
    )


def test_no_secret_values_in_git() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "k8s"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        path = REPO / name
        if path.suffix not in APPLY_EXTENSIONS or not path.exists():
            continue
        kinds = [obj["kind"] for obj in load_yaml_docs(path)]
        assert "Secret" not in kinds, f"{name} commits a Secret"
    templates = [n for n in tracked if n.endswith(".yaml.tpl")]
    assert len(templates) >= 6
    for name in templates:
        values = yaml.safe_load((REPO / name).read_text())["stringData"].values()
        assert all("${" in v for v in values), f"{name} holds a literal secret value"


def test_generated_secrets_are_git_ignored(k8s_copy: Path) -> None:
    generated = [*sorted(p.name for p in (k8s_copy / "secrets").glob("*.yaml")), "dev-secrets.env"]
    assert "app-secrets.yaml" in generated
    paths = [f"k8s/secrets/{name}" for name in generated]
    result = subprocess.run(["git", "check-ignore", *paths], cwd=REPO, capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(paths)


def test_generated_secrets_are_random_complete_and_stable(k8s_copy: Path) -> None:
    secrets = {
        o["metadata"]["name"]: o for f in (k8s_copy / "secrets").glob("*.yaml") for o in load_yaml_docs(f)
    }
    apps = {f"{app}-secrets" for app in ("app", "backend", "orchestrator", "dataflow", "kafkaflow")}
    assert set(secrets) == apps | {"mongodb-secrets", "redis-secrets"}
    # Only for OpenAI-compatible providers, and single sign-on.
    optional = {"LLM_API_KEY", "EMBEDDINGS_API_KEY", "OIDC_CLIENT_SECRET"}
    for secret in secrets.values():
        for key, value in secret["stringData"].items():
            assert "${" not in value, (secret["metadata"]["name"], key)
            assert value or key in optional, (secret["metadata"]["name"], key)
    assert len(secrets["backend-secrets"]["stringData"]["JWT_SECRET"]) >= 32
    redis_password = secrets["redis-secrets"]["stringData"]["password"]
    assert f":{redis_password}@redis:6379" in secrets["app-secrets"]["stringData"]["REDIS_URL"]
    app_password = secrets["mongodb-secrets"]["stringData"]["app-password"]
    assert f":{app_password}@mongodb-0.mongodb:27017" in secrets["app-secrets"]["stringData"]["MONGODB_URL"]
    # Re-running keeps the values (running pods keep working).
    before = (k8s_copy / "secrets" / "app-secrets.yaml").read_text()
    subprocess.run(
        ["bash", str(k8s_copy / "secrets" / "generate-dev-secrets.sh")], check=True, capture_output=True
    )
    assert (k8s_copy / "secrets" / "app-secrets.yaml").read_text() == before
    assert re.search(
        r"^ALICE_INTERNAL_TOKEN=\w{32,}$", (k8s_copy / "secrets" / "dev-secrets.env").read_text(), re.M
    )
