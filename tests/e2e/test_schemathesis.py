"""Property-based run of schemathesis over the backend's published OpenAPI, against the real
processes (backend, orchestrator, dataflow, kafkaflow) and infrastructure: no 5xx for any generated
input, and every answer matches its documented status code, content type and schema.

The caller is an admin, so the admin proxies are exercised too. The orchestrator runs its `fake`
model: this test is about the API surface, not about generation.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.stack import Stack, grant_admin, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
# The fuzzer sends far more than any user would: no bucket, per IP or per user, may throttle it.
UNTHROTTLED_FOR_FUZZING = dict(
    register_rate_per_ip_capacity=100_000,
    register_rate_per_ip_per_s=1000,
    max_registrations_per_hour=10_000_000,
    login_rate_per_ip_capacity=100_000,
    login_rate_per_ip_per_s=1000,
    login_rate_per_account_capacity=100_000,
    send_rate_capacity=100_000,
    upload_rate_capacity=100_000,
    max_concurrent_generations=100_000,
    share_rate_capacity=100_000,
    preset_rate_capacity=100_000,
    branch_rate_capacity=100_000,
    export_rate_capacity=100_000,
    shared_read_rate_per_ip_capacity=100_000,
    shared_read_rate_per_ip_per_s=1000,
)
ADMIN = f"schema-admin-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture(scope="module")
def backend_url(infra) -> Iterator[str]:
    token = "schemathesis-internal-token-long-enough-to-be-a-secret"
    shared = isolation("schema") | {"alice_internal_token": token}
    with Stack(
        infra,
        shared,
        orchestrator={"llm_provider": "fake"},
        dataflow={"ready_timeout_s": 120},
        kafkaflow={},
        backend=UNTHROTTLED_FOR_FUZZING,
    ) as up:
        registered = httpx.post(
            up["backend"].url + "/api/auth/register",
            json={"email": ADMIN, "password": "schemathesis-pw"},
            timeout=30,
        )
        assert registered.status_code == 201, registered.text
        grant_admin(up["backend"], ADMIN)
        yield up["backend"].url


def test_no_server_errors_and_no_schema_violations(backend_url, tmp_path):
    signed_in = httpx.post(
        backend_url + "/api/auth/login", json={"email": ADMIN, "password": "schemathesis-pw"}, timeout=30
    )
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="", NO_COLOR="1")
    result = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", backend_url + "/openapi.json",
            "--checks", CHECKS,
            "--header", f"Authorization: Bearer {token}",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", os.environ.get("ALICE_SCHEMATHESIS_EXAMPLES", "40"),
            "--workers", "1",  # hypothesis describes filter lambdas from source; two threads race there
            "--request-timeout", "20",
            "--suppress-health-check", "all",
            "--seed", "20261126",
        ],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=800,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
