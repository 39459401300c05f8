"""The frontend as `make dev` serves it (the Vite dev server): Debian's Chromium sees the security
headers, runs the app under its Content-Security-Policy without a violation, and never fetches an
image from another origin (frontend/e2e/csp.mjs); its /api proxy overwrites X-Forwarded-For. The
headers are nginx's too (image and k8s ConfigMap), checked against a real nginx in
tests/deploy/test_frontend_nginx.py. No backend is needed: a recorder stands in for it."""

import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from devstack.health import wait_http
from devstack.testing import free_port

from tests.support.stack import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

FRONTEND = ROOT / "frontend"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def nginx_headers() -> dict[str, str]:
    conf = (FRONTEND / "nginx.conf").read_text()
    server_level = conf.split("location", 1)[0]
    return {k.lower(): v for k, v in re.findall(r'add_header (\S+) "([^"]*)" always;', server_level)}


class Recorder(http.server.BaseHTTPRequestHandler):
    forwarded_for: list[str | None] = []

    def do_GET(self) -> None:
        Recorder.forwarded_for.append(self.headers.get("X-Forwarded-For"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_dev_server_is_locked_down_like_nginx(tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `scripts/bootstrap.sh --test` installs it"
    assert shutil.which("node") and (FRONTEND / "node_modules" / "vite").is_dir(), "npm ci in frontend/"
    port = free_port()
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    with (tmp_path / "vite.log").open("w") as log:
        vite = subprocess.Popen(
            ["node", "node_modules/vite/bin/vite.js", "--port", str(port), "--strictPort"],
            cwd=FRONTEND,
            env=os.environ | {"ALICE_BACKEND_URL": f"http://127.0.0.1:{backend.server_address[1]}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/", 60, proc=vite, interval_s=0.2)
        served = httpx.get(url + "/", timeout=10).headers
        for name, value in nginx_headers().items():
            assert served.get(name) == value, name
        claimed = {"X-Forwarded-For": "203.0.113.9"}
        assert httpx.get(url + "/api/health", headers=claimed, timeout=10).status_code == 204
        assert Recorder.forwarded_for == ["127.0.0.1"]  # who connected, not who it claimed to be
        run = subprocess.run(
            ["node", "--test", "e2e/csp.mjs"],
            cwd=FRONTEND,
            env=os.environ | {"ALICE_E2E_URL": url, "CHROMIUM_PATH": CHROMIUM},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        os.killpg(vite.pid, 15)
        vite.wait(10)
        backend.shutdown()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# pass 1" in run.stdout and "# fail 0" in run.stdout, run.stdout[-3000:]
