"""A real OpenID Connect provider for the single sign-on tests: Keycloak (provisioned into the
cache by devstack.provision.ensure_keycloak), on 127.0.0.1 on a free port, its database in memory,
with one realm and confidential client made through its admin API."""

import contextlib
import json
import os
import secrets
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from devstack import health
from devstack.config import Config
from devstack.provision import ensure_keycloak
from devstack.testing.processes import free_port, test_logs_dir

REALM = "alice"
CLIENT_ID = "alice"


@dataclass(frozen=True)
class SsoUser:
    username: str
    password: str
    email: str
    email_verified: bool


@dataclass(frozen=True)
class Keycloak:
    url: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    def backend_settings(self, public_url: str) -> dict[str, str]:
        """The backend's settings for single sign-on with this provider."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": self.client_secret,
            "oidc_display_name": "Keycloak",
            "public_url": public_url,
        }


def _realm(client_secret: str, users: list[SsoUser]) -> dict:
    return {
        "realm": REALM,
        "enabled": True,
        "sslRequired": "none",
        "clients": [
            {
                "clientId": CLIENT_ID,
                "publicClient": False,
                "secret": client_secret,
                "redirectUris": ["http://127.0.0.1:*", "http://localhost:*"],
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
            }
        ],
        "users": [
            {
                "username": u.username,
                "email": u.email,
                "emailVerified": u.email_verified,
                "firstName": u.username.capitalize(),
                "lastName": "Test",
                "enabled": True,
                "credentials": [{"type": "password", "value": u.password, "temporary": False}],
            }
            for u in users
        ],
    }


def _post(url: str, body: str, headers: dict[str, str]) -> bytes:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


@contextlib.contextmanager
def running_keycloak(users: list[SsoUser], timeout_s: float = 240) -> Iterator[Keycloak]:
    home = ensure_keycloak(Config())
    port, management_port = free_port(), free_port()
    admin_password = secrets.token_urlsafe(16)
    env = dict(os.environ) | {
        "KC_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "KC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
        "JAVA_OPTS_APPEND": "-Xms64m -Xmx512m",
    }
    argv = [str(home / "bin" / "kc.sh"), "start-dev", "--db=dev-mem", "--http-host=127.0.0.1"]
    argv += [f"--http-port={port}", "--health-enabled=true", f"--http-management-port={management_port}"]
    log_path = test_logs_dir() / f"keycloak-{port}-{uuid.uuid4().hex[:6]}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            health.wait_http(f"http://127.0.0.1:{management_port}/health/ready", timeout_s, proc=proc)
        except health.NotServing as exc:
            raise RuntimeError(f"keycloak: {exc}\n{log_path.read_text()[-3000:]}") from exc
        client_secret = secrets.token_urlsafe(32)
        form = {"grant_type": "password", "client_id": "admin-cli", "username": "admin"}
        form["password"] = admin_password
        token = _post(f"{url}/realms/master/protocol/openid-connect/token", urllib.parse.urlencode(form), {})
        bearer = {"Authorization": "Bearer " + json.loads(token)["access_token"]}
        bearer["Content-Type"] = "application/json"
        _post(f"{url}/admin/realms", json.dumps(_realm(client_secret, users)), bearer)
        yield Keycloak(url, client_secret)
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)
