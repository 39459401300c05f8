"""Each workspace member declares what it imports.

All members share one virtual environment (one uv lock), so a missing declaration would not fail at
import time here, only in the member's own image. This test makes it fail here: every third-party
module a member's package imports must come from a distribution listed in that member's
`pyproject.toml` (dependencies or optional extras).
"""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def declared(project: dict) -> set[str]:
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {requirement_name(r) for r in requirements}


def imported_modules(package_dir: Path) -> set[str]:
    names = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def distributions_of(module: str) -> set[str]:
    if module.startswith("alice_"):  # workspace members are editable installs: no top-level record
        return {normalise(module)}
    return {normalise(d) for d in importlib.metadata.packages_distributions().get(module, [])}


@pytest.mark.parametrize("member", MEMBERS)
def test_every_import_is_declared(member: str) -> None:
    member_dir = ROOT / member
    project = tomllib.loads((member_dir / "pyproject.toml").read_text())["project"]
    packages = [p for p in member_dir.iterdir() if (p / "__init__.py").exists()]
    assert packages, f"{member} has no package"
    own = {p.name for p in packages}
    allowed = declared(project) | {normalise(project["name"])}
    undeclared = {}
    for package in packages:
        for module in sorted(imported_modules(package) - own - set(sys.stdlib_module_names)):
            dists = distributions_of(module)
            assert dists, f"{member}: cannot tell which distribution provides `{module}`"
            if not dists & allowed:
                undeclared[module] = sorted(dists)
    assert not undeclared, f"{member} imports modules it does not declare: {undeclared}"
