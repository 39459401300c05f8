"""Every copy of a pinned version agrees with versions.env, the one file of pins.

Scripts and the devstack read versions.env; the files that cannot (go.mod, pom.xml, compose, k8s and
its overlays, skaffold.yaml, Dockerfiles, pyproject.toml, package.json) hold copies. Each rule
below finds every copy of one pin in every tracked file (docs and READMEs aside: prose, partly
history), and a copy must spell the pin or name its variable (`$KAFKA_VERSION`)."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from devstack.versions import PINS, VERSIONS_FILE, parse

REPO = Path(__file__).resolve().parents[2]
NOT_SCANNED = {"versions.env", "uv.lock", "tests/deploy/test_versions.py"}
NOT_SCANNED_SUFFIXES = (".md", ".png", ".tsv", ".json")
# A tag: a version, or a shell variable that holds one.
TAG = r"(\$\{?\w+\}?|v?\d[\w.+-]*)"


def image(repository: str) -> str:
    """`repository:tag` where an image is named, also in full as `docker.io/repository:tag` (as
    containerd's config names the pause image), but not `host:port` in a URL, nor `user:group`."""
    return rf"(?<![\w@/.:-])(?:docker\.io/)?{repository}:{TAG}"


def kustomize_tag(new_name: str) -> str:
    """`newName: X, newTag: T` of a kustomize images: entry."""
    return rf"newName: {re.escape(new_name)}, newTag: \"?{TAG}"


def image_tag(pin: str) -> str:
    return PINS[pin].rpartition(":")[2]


def repository(pin: str) -> str:
    return re.escape(PINS[pin].rpartition(":")[0])


# (the pin, where a copy of it is, what the copy must say)
RULES = [
    (
        "APP_VERSION",
        image(r"alice/(?:backend|orchestrator|dataflow|kafkaflow|frontend)"),
        PINS["APP_VERSION"],
    ),
    ("APP_VERSION", rf"name: alice/\w+, newTag: \"?{TAG}", PINS["APP_VERSION"]),
    ("KAFKA_VERSION", image(re.escape(PINS["KAFKA_IMAGE"])), PINS["KAFKA_VERSION"]),
    ("KAFKA_VERSION", image("alice-offline/kafka"), PINS["KAFKA_VERSION"]),
    ("KAFKA_VERSION", kustomize_tag("alice-offline/kafka"), PINS["KAFKA_VERSION"]),
    ("KAFKA_VERSION", r"<kafka\.version>([^<]*)</kafka\.version>", PINS["KAFKA_VERSION"]),
    ("KAFKA_SCALA_VERSION", r"<artifactId>kafka_([^<]*)</artifactId>", PINS["KAFKA_SCALA_VERSION"]),
    ("FERRETDB_VERSION", r"github\.com/FerretDB/FerretDB (v[^\s/]+)", PINS["FERRETDB_VERSION"]),
    ("FERRETDB_VERSION", rf"ferretdb-{TAG}", PINS["FERRETDB_VERSION"]),
    (
        "WEAVIATE_VERSION",
        image(re.escape(PINS["WEAVIATE_IMAGE"])),
        PINS["WEAVIATE_VERSION"].removeprefix("v"),
    ),
    ("WEAVIATE_VERSION", image("alice-offline/weaviate"), PINS["WEAVIATE_VERSION"]),
    ("WEAVIATE_VERSION", kustomize_tag("alice-offline/weaviate"), PINS["WEAVIATE_VERSION"]),
    ("KEYCLOAK_VERSION", image(re.escape(PINS["KEYCLOAK_IMAGE"])), PINS["KEYCLOAK_VERSION"]),
    ("UV_VERSION", image(re.escape(PINS["UV_IMAGE"])), PINS["UV_VERSION"]),
    ("UV_VERSION", image("alice-offline/uv"), PINS["UV_VERSION"]),
    ("UV_VERSION", rf"\buv=={TAG}", PINS["UV_VERSION"]),
    ("MONGO_IMAGE", image(repository("MONGO_IMAGE")), image_tag("MONGO_IMAGE")),
    ("REDIS_IMAGE", image(repository("REDIS_IMAGE")), image_tag("REDIS_IMAGE")),
    ("CURL_IMAGE", image(repository("CURL_IMAGE")), image_tag("CURL_IMAGE")),
    ("PYTHON_IMAGE", r"^ARG PYTHON_IMAGE=(\S+)", PINS["PYTHON_IMAGE"]),
    ("NODEJS_IMAGE", r"^ARG NODE_IMAGE=(\S+)", PINS["NODEJS_IMAGE"]),
    ("NGINX_IMAGE", r"^ARG NGINX_IMAGE=(\S+)", PINS["NGINX_IMAGE"]),
    ("KUBERNETES_VERSION", image("alice-cluster/(?:node|pause)"), PINS["KUBERNETES_VERSION"]),
]


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [
        name
        for name in listed.stdout.decode().split("\0")
        if name and name not in NOT_SCANNED and not name.endswith(NOT_SCANNED_SUFFIXES)
        and (REPO / name).is_file()
    ]  # fmt: skip


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = {}
    for name in tracked_files():
        try:
            found[name] = (REPO / name).read_text()
        except UnicodeDecodeError:
            continue
    return found


def copies(texts: dict[str, str], pattern: str) -> list[tuple[str, int, str]]:
    """(file, line, what the copy says) of every match of the pattern's group."""
    compiled = re.compile(pattern, re.M)
    return [
        (name, text.count("\n", 0, match.start()) + 1, match.group(1))
        for name, text in texts.items()
        for match in compiled.finditer(text)
    ]


@pytest.mark.parametrize(
    ("pin", "pattern", "expected"), RULES, ids=[f"{pin}-{n}" for n, (pin, _, _) in enumerate(RULES)]
)
def test_every_copy_of_a_pin_agrees_with_versions_env(texts, pin: str, pattern: str, expected: str) -> None:
    found = copies(texts, pattern)
    assert found, f"no copy of {pin} matches {pattern!r}: the rule no longer finds what it checks"
    references = {f"${pin}", f"${{{pin}}}"}
    wrong = [f"{name}:{line}: {said}" for name, line, said in found if said not in {expected} | references]
    assert not wrong, f"versions.env has {pin}={PINS[pin]}; these copies differ:\n" + "\n".join(wrong)


def test_every_python_package_has_the_app_version() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    members = [REPO, *(REPO / m for m in root["tool"]["uv"]["workspace"]["members"])]
    versions = {
        str(m.relative_to(REPO)) or ".": tomllib.loads((m / "pyproject.toml").read_text())["project"][
            "version"
        ]
        for m in members
    }
    assert set(versions.values()) == {PINS["APP_VERSION"]}, versions


def test_the_frontend_package_has_the_app_version() -> None:
    package = json.loads((REPO / "frontend/package.json").read_text())
    lock = json.loads((REPO / "frontend/package-lock.json").read_text())
    assert package["version"] == lock["version"] == lock["packages"][""]["version"] == PINS["APP_VERSION"]


def test_the_backend_openapi_document_has_the_app_version() -> None:
    """What API clients see (and the frontend's types are generated from)."""
    printed = subprocess.run(
        [sys.executable, "scripts/backend_openapi.py"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["info"]["version"] == PINS["APP_VERSION"]


def test_bash_reads_the_same_pins_as_python() -> None:
    """versions.env sourced by bash gives every key the value devstack/versions.py parses."""
    keys = " ".join(f'"${{{key}}}"' for key in PINS)
    printed = subprocess.run(
        ["bash", "-c", f'set -eu; source "$1"; printf "%s\\n" {keys}', "bash", str(VERSIONS_FILE)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines() == list(PINS.values())


@pytest.mark.parametrize("line", ['A="1"', "A=$B", "A=1 2", "a=1", "A=1\nA=2"])
def test_the_reader_refuses_what_bash_would_read_differently(line: str) -> None:
    with pytest.raises(ValueError):
        parse(line)
