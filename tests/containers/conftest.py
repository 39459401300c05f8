"""The system in containers (issue 9): images built through docker-compose.yml (plus
docker-compose.offline.yml when no registry answers) by `scripts/compose.sh`, the same path as
`make compose-up`, and the whole stack run under `docker compose` with its own project name and
free host ports, so it never meets the native devstack or another run.

These tests need a Docker engine that runs containers. `make test` provides one
(scripts/bootstrap.sh --test installs it, scripts/test.sh starts dockerd and sets
ALICE_TEST_CONTAINERS=1, which turns a missing engine into a failure); elsewhere they are skipped
with the reason in the summary. ALICE_TEST_CONTAINERS=0 skips them.
"""

import contextlib
import ipaddress
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.testing import free_port

from tests.support.composestack import ALICE_IMAGES, PORT_VARS, ROOT, Compose, alice_image, run
from tests.support.image_builds import one_build_at_a_time

INTERNAL_TOKENS = ("ORCHESTRATOR_INTERNAL_TOKEN", "DATAFLOW_INTERNAL_TOKEN", "KAFKAFLOW_INTERNAL_TOKEN")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    if not ours:
        return
    reason = _unavailable()
    if reason is None:
        return
    if os.environ.get("ALICE_TEST_CONTAINERS") == "1":
        return  # the session fixture fails with the reason
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=f"containers: {reason}"))


def _unavailable() -> str | None:
    if os.environ.get("ALICE_TEST_CONTAINERS") == "0":
        return "ALICE_TEST_CONTAINERS=0"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "no docker CLI or no answer (scripts/bootstrap.sh --containers)"
    if info.returncode != 0:
        return "no Docker daemon answers (scripts/docker-daemon.sh start)"
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    if plugin.returncode != 0:
        return "the compose v2 plugin is missing (scripts/docker-plugins.sh)"
    return None


@pytest.fixture(scope="session")
def compose() -> Compose:
    """The environment of this session's compose project: own name, free ports, random secrets, and
    the offline decision taken once (a pull probe unless ALICE_OFFLINE_IMAGES says)."""
    reason = _unavailable()
    if reason is not None:
        pytest.fail(f"containers: {reason}")
    env = dict(os.environ)
    env["COMPOSE_PROJECT_NAME"] = f"alice-ctest-{uuid.uuid4().hex[:8]}"
    for var in PORT_VARS.values():
        env[var] = str(free_port())
    # Its own `edge` network, so two sessions' projects can run at once.
    edge = ipaddress.ip_network(f"10.213.{secrets.randbelow(256)}.{8 * secrets.randbelow(32)}/29")
    env["ALICE_EDGE_SUBNET"], env["ALICE_EDGE_FRONTEND_IP"] = str(edge), str(edge[2])
    env["ALICE_EDGE_BACKEND_IP"] = str(edge[3])
    stores = ("WEAVIATE_API_KEY", "REDIS_PASSWORD", "MONGODB_PASSWORD")
    for var in ("JWT_SECRET", "ALICE_INTERNAL_TOKEN", *stores, *INTERNAL_TOKENS):
        env[var] = secrets.token_urlsafe(32)
    mode = env.get("ALICE_OFFLINE_IMAGES", "auto")
    if mode == "auto":
        needed = subprocess.run(["scripts/offline-images.sh", "needed"], cwd=ROOT, env=env, timeout=120)
        mode = "1" if needed.returncode == 0 else "0"
    env["ALICE_OFFLINE_IMAGES"] = mode
    return Compose(env)


def _image_id(image: str, env: dict[str, str]) -> str | None:
    found = run(["docker", "image", "inspect", "-f", "{{.Id}}", image], env, 60, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


@pytest.fixture(scope="session")
def built_images(compose: Compose, request: pytest.FixtureRequest) -> dict[str, int]:
    """Every image built through the compose files, as `make compose-up` builds them (layers whose
    inputs did not change come from Docker's cache: docs/decisions/0057); their sizes."""
    started = time.monotonic()
    before = {name: _image_id(alice_image(name), compose.env) for name in ALICE_IMAGES}
    with one_build_at_a_time("containers: compose build"):
        compose("build", timeout=3600)
    # A rebuilt image leaves the previous one untagged: remove it, or every change keeps its layers.
    for name, old in before.items():
        if old and old != _image_id(alice_image(name), compose.env):
            run(["docker", "rmi", old], compose.env, 120, check=False)
    sizes = {}
    for name in ALICE_IMAGES:
        out = run(["docker", "image", "inspect", "-f", "{{.Size}}", alice_image(name)], compose.env, 60)
        sizes[name] = int(out.stdout.strip())
    offline = "offline equivalents" if compose.env["ALICE_OFFLINE_IMAGES"] == "1" else "upstream bases"
    lines = [f"containers: images built in {time.monotonic() - started:.0f}s ({offline}):"]
    lines += [f"  {alice_image(name)}  {size / 1e6:7.1f} MB" for name, size in sizes.items()]
    # Into the test output even though pytest captures it (the sizes are a reported figure).
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)
    return sizes


@pytest.fixture(scope="session")
def stack(compose: Compose, built_images) -> Iterator[Compose]:
    """The whole system up and healthy (`up --build --wait`); removed with its volumes at the end."""
    try:
        compose("up", "--wait-timeout", "600", timeout=900)
        yield compose
    finally:
        logs = compose("logs", "--no-color", "--tail", "200", timeout=120, check=False)
        log_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"{compose.project}.log"
        log_file.write_text(logs.stdout + logs.stderr)
        compose("down", "-v", "--remove-orphans", timeout=300, check=False)
