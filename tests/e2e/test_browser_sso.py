"""Single sign-on in Debian's Chromium (frontend/e2e/sso.mjs): the production build behind `vite
preview`, the backend, and a real Keycloak (devstack.testing.keycloak). Only the backend is needed:
the test signs in and out, it does not chat."""

from collections.abc import Iterator

import pytest
from devstack.testing import ServiceProcess, free_port, service_env, unique_name
from devstack.testing.keycloak import Keycloak, SsoUser, running_keycloak

from tests.e2e.test_browser import build_frontend, run_browser_script, screenshots_dir, vite_preview

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

GRACE = SsoUser("grace", "grace-password-1", "grace@example.test", email_verified=True)


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Keycloak]:
    with running_keycloak([GRACE]) as provider:
        yield provider


@pytest.fixture(scope="module")
def frontend_url(infra, keycloak) -> Iterator[str]:
    build_frontend()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = service_env(infra, mongodb_database=unique_name("sso-browser"), **keycloak.backend_settings(url))
    backend = ServiceProcess("backend", env).start()
    try:
        with vite_preview(port, backend.url) as served:
            yield served
    finally:
        backend.stop()


def test_sign_in_with_the_provider_in_the_browser(frontend_url, tmp_path):
    screenshots = screenshots_dir(tmp_path)
    env = {
        "ALICE_E2E_URL": frontend_url,
        "ALICE_E2E_SCREENSHOTS": str(screenshots),
        "ALICE_E2E_SSO_USERNAME": GRACE.username,
        "ALICE_E2E_SSO_PASSWORD": GRACE.password,
        "ALICE_E2E_SSO_EMAIL": GRACE.email,
    }
    run_browser_script("sso.mjs", env, tmp_path, timeout=300, passes=1)
    assert (screenshots / "login-sso.png").stat().st_size > 10_000, "screenshot missing"
