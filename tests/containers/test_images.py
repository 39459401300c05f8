"""The images: built through the compose files and through skaffold.yaml, small, and holding
nothing they should not."""

import json
import re
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.support.composestack import ALICE_IMAGES, ROOT, Compose, alice_image, run
from tests.support.image_builds import one_build_at_a_time

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(3600)]

COMPILER = re.compile(
    r"(^|/)(s?bin)/(gcc|g\+\+|cc|c\+\+|clang|cmake|make|ld|as)(-[\d.]+)?$|-linux-gnu-(gcc|g\+\+)"
)
SECRETS = (
    "JWT_SECRET",
    "ALICE_INTERNAL_TOKEN",
    "WEAVIATE_API_KEY",
    "REDIS_PASSWORD",
    "MONGODB_PASSWORD",
    "ORCHESTRATOR_INTERNAL_TOKEN",
    "DATAFLOW_INTERNAL_TOKEN",
    "KAFKAFLOW_INTERNAL_TOKEN",
)
CACHES = re.compile(
    r"^(root/\.cache/.|root/\.npm/.|tmp/.|var/cache/apt/archives/.*\.deb$|var/lib/apt/lists/[^/]+_"
    r"|usr/local/bin/uv$|.*\.whl$)"
)


def test_compose_config_validates(compose: Compose) -> None:
    result = compose("config", "--quiet", timeout=60)
    assert result.returncode == 0


def test_compose_refuses_to_start_without_its_secrets(compose: Compose, tmp_path: Path) -> None:
    """A plain `docker compose up` with no .env stops and says what to run (no weak defaults)."""
    env = {k: v for k, v in compose.env.items() if k not in SECRETS}
    empty = tmp_path / "empty.env"
    empty.write_text("")
    argv = ["docker", "compose", "--env-file", str(empty), "-f", "docker-compose.yml", "config", "--quiet"]
    result = run(argv, env, 60, check=False)
    assert result.returncode != 0
    assert "scripts/compose-env.sh" in result.stderr and "make compose-up" in result.stderr, result.stderr


def env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_compose_env_writes_random_secrets_once(tmp_path: Path) -> None:
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    for path in (first, second):
        subprocess.run([ROOT / "scripts/compose-env.sh", path], check=True, timeout=30, capture_output=True)
    a, b = env_file(first), env_file(second)
    for key in SECRETS:
        assert len(a[key]) >= 40 and a[key] != b[key], key
    assert oct(first.stat().st_mode & 0o777) == "0o600"
    before = first.read_text()
    subprocess.run([ROOT / "scripts/compose-env.sh", first], check=True, timeout=30, capture_output=True)
    assert first.read_text() == before, "an existing .env is kept"


def test_every_image_builds_and_stays_reasonably_small(built_images: dict[str, int]) -> None:
    assert set(built_images) == set(ALICE_IMAGES)
    assert built_images["frontend"] < 250e6, built_images
    for name in ("backend", "kafkaflow"):
        assert built_images[name] < 600e6, built_images
    # A Debian base, the engine and the 135M model (about 90 MB): no Python environment.
    assert built_images["inference"] < 400e6, built_images


def image_paths(image: str, env: dict[str, str]) -> list[str]:
    """Every path in the image's filesystem (`docker create` + `docker export`, nothing runs)."""
    container = run(["docker", "create", image], env, 120).stdout.strip()
    try:
        export = subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            paths = [member.name.lstrip("./") for member in tar]
        assert export.wait(120) == 0
        return paths
    finally:
        run(["docker", "rm", "-f", container], env, 60, check=False)


@pytest.mark.parametrize("name", ALICE_IMAGES)
def test_image_holds_no_compiler_git_tests_or_caches(name: str, compose: Compose, built_images) -> None:
    paths = image_paths(alice_image(name), compose.env)
    assert len(paths) > 500, "the export is not empty"
    assert not [p for p in paths if COMPILER.search(p)], "compilers"
    assert not [p for p in paths if "/.git/" in f"/{p}/" or p.endswith("/.git")], ".git"
    assert not [p for p in paths if re.search(r"(^|/)tests/", p)], "test folders"
    assert not [p for p in paths if CACHES.search(p)], "package caches"
    if name == "inference":
        assert "usr/local/bin/llama-server" in paths and "models/SmolLM2-135M-Instruct.gguf" in paths
        assert not [p for p in paths if p.startswith(("src/", "cache/", "out/"))], "build leftovers"
    elif name != "frontend":
        assert f"app/.venv/bin/alice-{name}" in paths
        assert not [p for p in paths if p.startswith(("src/", "app/services/"))], "sources beside the venv"


def build_steps(log: str) -> tuple[set[str], set[str]]:
    """BuildKit's plain progress: (every step "[target stage n/m] INSTRUCTION", the cached ones).
    Step numbers repeat across the images compose builds, so a CACHED line belongs to the step
    that number named last."""
    named: dict[str, str] = {}
    steps: set[str] = set()
    cached: set[str] = set()
    for line in log.splitlines():
        if found := re.match(r"^#(\d+) (\[[^\]]+\] .+)$", line):
            named[found.group(1)] = found.group(2)
            steps.add(found.group(2))
        elif (found := re.match(r"^#(\d+) CACHED$", line)) and found.group(1) in named:
            cached.add(named[found.group(1)])
    return steps, cached


def test_a_code_edit_rebuilds_no_dependency_layer(compose: Compose, built_images) -> None:
    """Editing one service's code reruns only the code steps: every image's dependency step (the
    slow `uv sync --no-install-workspace`) comes from the cache, the edited service's code step does not."""
    module = ROOT / "services/backend/alice_backend/__init__.py"
    original = module.read_text()
    # A new text every run: BuildKit keys layers by content, so a repeated edit would be a cache hit.
    module.write_text(original + f"\n# touched by a test: {uuid.uuid4().hex}\n")
    with one_build_at_a_time("containers: a code edit's build"):
        try:
            env = compose.env | {"BUILDKIT_PROGRESS": "plain"}
            result = run(["scripts/compose.sh", "build", "backend", "kafkaflow"], env, 900)
        finally:
            module.write_text(original)
            # The images tagged for the later tests are the checkout's again (all cached: seconds).
            run(["scripts/compose.sh", "build", "backend", "kafkaflow"], compose.env, 900)
    steps, cached = build_steps(result.stdout + result.stderr)
    deps = {step for step in steps if "--no-install-workspace" in step}
    code = {step for step in steps if "--no-editable" in step}
    assert {step.split()[0] for step in deps} == {"[backend", "[kafkaflow"}, steps
    assert deps <= cached, [step[:60] for step in deps - cached]
    rebuilt = {step.split()[0] for step in code - cached}
    assert rebuilt == {"[backend"}, "only the edited service's code step runs again"


def layers(image: str, env: dict[str, str]) -> list[str]:
    argv = ["docker", "image", "inspect", "-f", "{{json .RootFS.Layers}}", image]
    return json.loads(run(argv, env, 60).stdout)


def test_skaffold_builds_every_image_from_its_config(compose: Compose, built_images, tmp_path: Path) -> None:
    """skaffold.yaml is the other path users take (`skaffold dev`/`run`, on a cluster). It builds
    every artifact from the same Dockerfiles and arguments as compose, so each image holds exactly
    the layers of compose's clean build (the `offline` profile when no registry answers)."""
    profile = ["--profile", "offline"] if compose.env["ALICE_OFFLINE_IMAGES"] == "1" else []
    tag = f"ctest-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "builds.json"
    argv = ["skaffold", "build", *profile, "--tag", tag, "--file-output", str(output)]
    built: list[str] = []
    try:
        # An empty artifact cache, so every artifact is built. Not `--cache-artifacts=false`: without
        # the artifact cache skaffold prunes every older image of each repository, which would
        # delete the images the cluster stage, running beside this one, deployed.
        cache = ["--cache-file", str(tmp_path / "skaffold-cache")]
        with one_build_at_a_time("containers: skaffold build"):
            run([*argv, *cache, "--push=false"], compose.env, 3600)
        builds = json.loads(output.read_text())["builds"]
        built = [f"{build['imageName']}:{tag}" for build in builds]
        assert sorted(build["imageName"] for build in builds) == sorted(f"alice/{n}" for n in ALICE_IMAGES)
        for name in ALICE_IMAGES:
            ours = layers(f"alice/{name}:{tag}", compose.env)
            assert ours == layers(alice_image(name), compose.env), f"{name}: skaffold's image differs"
    finally:
        if built:
            run(["docker", "rmi", *built], compose.env, 120, check=False)
