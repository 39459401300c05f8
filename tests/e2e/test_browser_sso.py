"""Single sign-on in Debian's Chromium (frontend/e2e/sso.mjs): the production build behind `vite
preview`, the backend, and a real Keycloak (devstack.testing.keycloak). Only the backend is needed:
the test signs in and out, it does not chat."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from devstack.health import wait_http
from devstack.testing import ServiceProcess, free_port, service_env, unique_name
from devstack.testing.keycloak import Keycloak, SsoUser, running_keycloak

from tests.e2e.test_browser import FRONTEND, run_browser_script

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

GRACE = SsoUser("grace", "grace-password-1", "grace@example.test", email_verified=True)


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Keycloak]:
    with running_keycloak([GRACE]) as provider:
        yield provider


@pytest.fixture(scope="module")
def frontend_url(infra, keycloak) -> Iterator[str]:
    build = subprocess.run(
        ["npm", "run", "--silent", "build"], cwd=FRONTEND, capture_output=True, text=True, timeout=300
    )
    assert build.returncode == 0, f"frontend build failed:\n{build.stdout}\n{build.stderr}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(infra, mongodb_database=unique_name("sso-browser"), **keycloak.backend_settings(url))
    backend = ServiceProcess("backend", env).start()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"alice-vite-preview-{port}.log", "w")
    preview = subprocess.Popen(
        ["node", "node_modules/vite/bin/vite.js", "preview", "--port", str(port), "--strictPort"],
        cwd=FRONTEND,
        env=os.environ | {"ALICE_BACKEND_URL": backend.url},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(url + "/", 60, proc=preview)
        yield url
    finally:
        preview.terminate()
        try:
            preview.wait(10)
        except subprocess.TimeoutExpired:
            preview.kill()
        log.close()
        backend.stop()


def test_sign_in_with_the_provider_in_the_browser(frontend_url, tmp_path):
    env = {
        "ALICE_E2E_URL": frontend_url,
        "ALICE_E2E_SSO_USERNAME": GRACE.username,
        "ALICE_E2E_SSO_PASSWORD": GRACE.password,
        "ALICE_E2E_SSO_EMAIL": GRACE.email,
    }
    run_browser_script("sso.mjs", env, tmp_path, timeout=300, passes=1)
