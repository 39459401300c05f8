"""k8s/ builds with kustomize (base and overlays), every object validates against the Kubernetes
schema of a current release or its CRD's schema, and the per-folder apply of docs/operations.md
("Production, folder by folder") works."""

import functools
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_lib import K8S, REPO, load_yaml_docs
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

K8S_VERSION = kubernetes_validate.latest_version()
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"

# The folders `kubectl apply -f k8s/<dir>/ -n alice` is run on (docs/operations.md, "Production,
# folder by folder"), plus the ones added.
PLAN_FOLDERS = [
    "configmaps", "secrets", "mongodb", "redis", "kafka", "weaviate",
    "orchestrator", "dataflow", "backend", "frontend", "hpa", "ingress",
]  # fmt: skip
EXTRA_FOLDERS = ["kafkaflow", "autoscaling", "monitoring", "policies", "backup", "istio"]
NOT_IN_KUSTOMIZATION = {"istio"}  # optional: needs Istio in the cluster
APPLY_EXTENSIONS = {".yaml", ".yml", ".json"}  # what `kubectl apply -f <dir>` reads


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


def test_istio_manifests_validate_though_not_applied_by_default() -> None:
    objects = [o for f in sorted((K8S / "istio").glob("*.yaml")) for o in load_yaml_docs(f)]
    assert [o["kind"] for o in objects] == ["VirtualService"]
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize(
    ("kind", "path", "bad_value"),
    [
        ("ScaledObject", ["spec", "triggers", 0, "metadata", "lagThreshold"], 100),  # KEDA wants strings
        ("ServiceMonitor", ["spec", "endpoints", 0, "interval"], "15 seconds"),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0, "for"], "five minutes"),
        ("ClusterIssuer", ["spec", "acme", "server"], "http://insecure"),
    ],
)
def test_crd_schemas_reject_invalid_objects(rendered, kind, path, bad_value) -> None:
    obj = json.loads(json.dumps(rendered["base"].of_kind(kind)[0]))
    validate(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value
    with pytest.raises(jsonschema.ValidationError):
        validate(obj)
    obj = json.loads(json.dumps(rendered["base"].of_kind(kind)[0]))
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
        assert path.name not in {"kustomization.yaml", "kustomization.yml", "Kustomization"}
        for obj in load_yaml_docs(path):
            assert {"apiVersion", "kind", "metadata"} <= obj.keys(), path
            assert obj["metadata"].get("name"), path
            # `-n alice` must decide the namespace: a hard-coded other one would make apply fail.
            assert obj["metadata"].get("namespace") in (None, "alice"), path
            validate(obj)


def test_plan_folders_exist_with_the_plan_files() -> None:
    expected = {
        "namespace.yaml",
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


def kustomization_resources(path: Path) -> list[str]:
    return yaml.safe_load(path.read_text())["resources"]


def test_kustomization_covers_every_folder_file() -> None:
    listed = set(kustomization_resources(K8S / "kustomization.yaml"))
    on_disk = {
        str(p.relative_to(K8S))
        for folder in PLAN_FOLDERS + EXTRA_FOLDERS
        if folder not in NOT_IN_KUSTOMIZATION
        for p in applicable_files(K8S / folder)
    }
    # The Secrets are rendered from their templates: count the templates.
    on_disk |= {str(p.relative_to(K8S)).removesuffix(".tpl") for p in (K8S / "secrets").glob("*.yaml.tpl")}
    assert on_disk == listed - {"namespace.yaml"}
    assert not any(r.startswith("istio/") for r in listed)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_list_exactly_the_base_files(overlay: str) -> None:
    base = kustomization_resources(K8S / "kustomization.yaml")
    listed = kustomization_resources(K8S / "overlays" / overlay / "kustomization.yaml")
    assert listed == [f"../../{r}" for r in base]


def test_no_kustomization_inside_applied_folders() -> None:
    found = [str(p.relative_to(K8S)) for p in K8S.rglob("kustomization.y*ml")]
    assert sorted(found) == [
        "kustomization.yaml",
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    ]


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
    apps = {f"{app}-secrets" for app in ("app", "backend", "orchestrator", "dataflow")}
    assert set(secrets) == apps | {"mongodb-secrets", "redis-secrets"}
    optional = {"LLM_API_KEY", "EMBEDDINGS_API_KEY"}  # only for OpenAI-compatible providers
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
