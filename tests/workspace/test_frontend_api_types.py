"""The frontend's API types (frontend/src/api/schema.d.ts) are generated from the backend's OpenAPI
document; these tests fail when the committed file no longer matches the backend."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"


@pytest.fixture(scope="module")
def backend_openapi() -> dict:
    out = subprocess.run(
        [sys.executable, "scripts/backend_openapi.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check(openapi: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi))
    argv = ["node", "scripts/gen-api.mjs", "--check", str(spec)]
    return subprocess.run(argv, cwd=FRONTEND, capture_output=True, text=True, timeout=120)


def test_generated_types_match_the_backend(backend_openapi, tmp_path):
    result = check(backend_openapi, tmp_path)
    assert result.returncode == 0, f"{result.stderr}\nregenerate with: cd frontend && npm run gen:api"


def test_a_backend_change_makes_the_types_stale(backend_openapi, tmp_path):
    openapi = copy.deepcopy(backend_openapi)
    openapi["components"]["schemas"]["Message"]["properties"]["added_field"] = {"type": "string"}
    result = check(openapi, tmp_path)
    assert result.returncode == 1
    assert "schema.d.ts is stale" in result.stderr
