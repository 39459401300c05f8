"""Single sign-on against a real OpenID Connect provider (Keycloak, devstack.testing.keycloak): the
browser's way through the backend and the provider's login form, driven with httpx."""

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from devstack.testing import ServiceProcess, unique_name
from devstack.testing.keycloak import Keycloak, SsoUser, running_keycloak
from devstack.testing.processes import free_port, service_env

ADA = SsoUser("ada", "ada-password-1", "ada@example.test", email_verified=True)
BOB = SsoUser("bob", "bob-password-1", "bob@example.test", email_verified=True)
# Claims the address of an account someone made with a password; the provider never checked it.
MALLORY = SsoUser("mallory", "mallory-password-1", "victim@example.test", email_verified=False)


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Keycloak]:
    with running_keycloak([ADA, BOB, MALLORY]) as provider:
        yield provider


@pytest.fixture(scope="module")
def backend(infra, keycloak) -> Iterator[ServiceProcess]:
    port = free_port()
    settings = keycloak.backend_settings(public_url=f"http://127.0.0.1:{port}")
    env = service_env(infra, mongodb_database=unique_name("sso"), **settings)
    process = ServiceProcess("backend", env, port=port).start()
    try:
        yield process
    finally:
        process.stop()


def _login_form_action(page: str) -> str:
    form = re.search(r"<form[^>]*id=\"kc-form-login\"[^>]*>", page)
    assert form, page[:2000]
    return html.unescape(re.search(r'action="([^"]+)"', form.group(0)).group(1))


def _localhost_is_secure(browser: httpx.Client) -> None:
    """Browsers send `Secure` cookies to http://127.0.0.1 (a secure context); httpx does not."""
    for cookie in browser.cookies.jar:
        cookie.secure = False


def sign_in(backend: ServiceProcess, user: SsoUser) -> httpx.Response:
    """Start at the backend, sign in at the provider, come back: the backend's last answer."""
    with httpx.Client(timeout=30) as browser:
        start = browser.get(backend.url + "/api/auth/oidc/login")
        assert start.status_code == 303
        login_page = browser.get(start.headers["location"], follow_redirects=True)
        assert login_page.status_code == 200
        _localhost_is_secure(browser)
        posted = browser.post(
            _login_form_action(login_page.text), data={"username": user.username, "password": user.password}
        )
        assert posted.status_code == 302, posted.text[:2000]
        callback = posted.headers["location"]
        assert callback.startswith(backend.url + "/api/auth/oidc/callback?")
        return browser.get(callback)


def session_of(backend: ServiceProcess, answer: httpx.Response) -> httpx.Client:
    """A client signed in with the refresh cookie the callback set, as the app renews it."""
    cookie = answer.cookies.get("alice_refresh")
    assert cookie, answer.headers
    refreshed = httpx.post(backend.url + "/api/auth/refresh", cookies={"alice_refresh": cookie}, json={})
    assert refreshed.status_code == 200, refreshed.text
    token = refreshed.json()["access_token"]
    return httpx.Client(base_url=backend.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_the_login_page_is_told_about_single_sign_on(backend):
    config = httpx.get(backend.url + "/api/auth/config").json()
    assert config == {"password_login": True, "password_signup": True, "sso": {"name": "Keycloak"}}


def test_signing_in_at_the_provider_lands_signed_in_in_the_app(backend):
    answer = sign_in(backend, ADA)
    assert answer.status_code == 303
    assert answer.headers["location"] == backend.url + "/?signed_in=sso"
    with session_of(backend, answer) as ada:
        me = ada.get("/api/me").json()
    assert me["email"] == ADA.email
    assert me["display_name"] == "Ada Test"
    # The same account the next time: linked by the verified address.
    with session_of(backend, sign_in(backend, ADA)) as again:
        assert again.get("/api/me").json()["id"] == me["id"]


def test_a_state_is_used_once(backend):
    with httpx.Client(timeout=30) as browser:
        start = browser.get(backend.url + "/api/auth/oidc/login")
        login_page = browser.get(start.headers["location"], follow_redirects=True)
        _localhost_is_secure(browser)
        posted = browser.post(
            _login_form_action(login_page.text), data={"username": ADA.username, "password": ADA.password}
        )
        callback = posted.headers["location"]
        assert "alice_refresh" in browser.get(callback).cookies
        # Even with the state's cookie presented again, the attempt is spent.
        state = parse_qs(urlsplit(callback).query)["state"][0]
        replayed = httpx.get(callback, cookies={"alice_oidc_state": state})
    assert replayed.headers["location"].endswith("/?sso_error=invalid_state")
    assert "alice_refresh" not in replayed.cookies


def test_a_callback_opened_in_another_browser_signs_no_one_in(backend):
    """Login CSRF: Bob finishes at the provider but hands his callback to a victim's browser."""
    with httpx.Client(timeout=30) as bobs_browser:
        start = bobs_browser.get(backend.url + "/api/auth/oidc/login")
        login_page = bobs_browser.get(start.headers["location"], follow_redirects=True)
        _localhost_is_secure(bobs_browser)
        posted = bobs_browser.post(
            _login_form_action(login_page.text), data={"username": BOB.username, "password": BOB.password}
        )
        callback = posted.headers["location"]
    with httpx.Client(timeout=30) as victims_browser:
        opened = victims_browser.get(callback)
    assert opened.headers["location"].endswith("/?sso_error=invalid_state")
    assert "alice_refresh" not in opened.cookies


def test_signing_in_as_b_never_reaches_a_s_data(backend):
    with session_of(backend, sign_in(backend, ADA)) as ada:
        key = ada.post("/api/keys", json={"name": "ada's key"})
        assert key.status_code == 201, key.text
        ada_id = ada.get("/api/me").json()["id"]
    with session_of(backend, sign_in(backend, BOB)) as bob:
        me = bob.get("/api/me").json()
        assert (me["email"], me["id"] != ada_id) == (BOB.email, True)
        assert [k["name"] for k in bob.get("/api/keys").json()["items"]] == []
        assert bob.delete(f"/api/keys/{key.json()['key']['id']}").status_code == 404


def test_an_unverified_address_cannot_take_over_an_account(backend):
    victim = httpx.post(
        backend.url + "/api/auth/register", json={"email": MALLORY.email, "password": "victim-password-1"}
    )
    assert victim.status_code == 201, victim.text
    answer = sign_in(backend, MALLORY)
    assert answer.headers["location"] == backend.url + "/?sso_error=email_unverified"
    assert "alice_refresh" not in answer.cookies
    # The victim's password still signs the victim in; nothing changed hands.
    login = httpx.post(
        backend.url + "/api/auth/login", json={"email": MALLORY.email, "password": "victim-password-1"}
    )
    assert login.status_code == 200


def test_logout_goes_on_to_the_provider(backend, keycloak):
    answer = httpx.get(backend.url + "/api/auth/oidc/logout")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}".startswith(keycloak.issuer)
    assert parse_qs(location.query)["post_logout_redirect_uri"] == [backend.url + "/"]


@pytest.fixture(scope="module")
def sso_only_backend(infra, keycloak) -> Iterator[ServiceProcess]:
    """A site that closed passwords: single sign-on only, and no new accounts either."""
    port = free_port()
    settings = keycloak.backend_settings(public_url=f"http://127.0.0.1:{port}")
    closed = {
        "password_signup_enabled": "false",
        "password_login_enabled": "false",
        "oidc_signup_enabled": "false",
    }
    env = service_env(infra, mongodb_database=unique_name("sso-only"), **settings, **closed)
    process = ServiceProcess("backend", env, port=port).start()
    try:
        yield process
    finally:
        process.stop()


def test_a_site_can_close_passwords_and_sign_up(sso_only_backend):
    url = sso_only_backend.url
    config = httpx.get(url + "/api/auth/config").json()
    assert config == {"password_login": False, "password_signup": False, "sso": {"name": "Keycloak"}}
    registered = httpx.post(
        url + "/api/auth/register", json={"email": "eve@example.test", "password": "x" * 12}
    )
    assert (registered.status_code, registered.json()["error"]["code"]) == (403, "signup_closed")
    login = httpx.post(url + "/api/auth/login", json={"email": ADA.email, "password": ADA.password})
    assert (login.status_code, login.json()["error"]["code"]) == (403, "password_login_disabled")
    # A verified address without an account is not let in either.
    answer = sign_in(sso_only_backend, ADA)
    assert answer.headers["location"] == url + "/?sso_error=signup_closed"
    assert "alice_refresh" not in answer.cookies
