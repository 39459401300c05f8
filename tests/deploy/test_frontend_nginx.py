"""frontend/nginx.conf served by a real nginx: SSE through /api is relayed event by event, paths
reach the backend unchanged, the SPA falls back to index.html. Needs the nginx binary (Debian
package nginx-light); the image's nginx is the same server."""

import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from devstack.health import NotServing, wait_http

from tests.support.deploy_lib import REPO

EVENT_GAP_S = 0.4

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowSSE(http.server.BaseHTTPRequestHandler):
    paths: list[str] = []
    forwarded_for: list[str | None] = []

    def do_GET(self) -> None:
        SlowSSE.paths.append(self.path)
        SlowSSE.forwarded_for.append(self.headers.get("X-Forwarded-For"))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(3):
            self.wfile.write(f'id: {i}\nevent: token\ndata: {{"delta": "{i}"}}\n\n'.encode())
            self.wfile.flush()
            time.sleep(EVENT_GAP_S)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), SlowSSE)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("nginx")
    (root / "html").mkdir()
    (root / "html" / "index.html").write_text("<html>alice spa</html>")
    port = free_port()
    server = (REPO / "frontend/nginx.conf").read_text()
    server = server.replace("listen 3000;", f"listen 127.0.0.1:{port};")
    server = server.replace("http://backend:8000", f"http://127.0.0.1:{upstream.server_address[1]}")
    server = server.replace("root /usr/share/nginx/html;", f"root {root / 'html'};")
    assert server.count(str(root)) == 1 and f":{port};" in server
    (root / "default.conf").write_text(server)
    temp = "".join(f"  {k}_temp_path {root};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root, nginx's workers would drop to "nobody", who cannot read pytest's private tmp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {root}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n{temp}  access_log off;\n"
        f"  include {root}/default.conf;\n}}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-c", str(root / "nginx.conf"), "-p", str(root), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{base}/health", 10, proc=process, interval_s=0.05)
        except NotServing as exc:
            exited = process.poll() is not None
            pytest.fail(f"nginx: {exc}\n{process.stderr.read().decode() if exited else ''}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()


def test_sse_events_arrive_one_by_one_and_the_path_is_kept(frontend: str) -> None:
    arrivals = []
    start = time.monotonic()
    with httpx.stream("GET", f"{frontend}/api/replies/r1/stream", timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 3
    # Buffered, all three would arrive together at the end.
    assert arrivals[0] < arrivals[2] - EVENT_GAP_S
    assert SlowSSE.paths[-1] == "/api/replies/r1/stream"


def test_health_ready_and_spa_fallback(frontend: str) -> None:
    assert httpx.get(f"{frontend}/health").text == "ok\n"
    assert httpx.get(f"{frontend}/ready").status_code == 200
    page = httpx.get(f"{frontend}/conversations/123")
    assert page.status_code == 200 and "alice spa" in page.text
    assert httpx.get(f"{frontend}/assets/missing.js").status_code == 404


def test_a_shared_link_opens_the_spa_and_its_snapshot_is_asked_of_the_backend(frontend: str) -> None:
    page = httpx.get(f"{frontend}/s/Ab-_9xYz")
    assert page.status_code == 200 and "alice spa" in page.text
    with httpx.stream("GET", f"{frontend}/api/shared/Ab-_9xYz", timeout=10) as response:
        assert response.status_code == 200
        response.read()
    assert SlowSSE.paths[-1] == "/api/shared/Ab-_9xYz"


def test_the_client_address_is_overwritten_never_appended(frontend: str) -> None:
    """The backend trusts this nginx to name the client: what the client claims must not survive."""
    claimed = {"X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
    with httpx.stream("GET", f"{frontend}/api/replies/r2/stream", headers=claimed, timeout=10) as response:
        assert response.status_code == 200
        response.read()
    assert SlowSSE.forwarded_for[-1] == "127.0.0.1"


SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_every_response_carries_the_security_headers(frontend: str) -> None:
    """Also where a location adds a header of its own (nginx then drops the server's)."""
    for path in ("/", "/conversations/123", "/assets/missing.js", "/health", "/api/replies/r3/stream"):
        headers = httpx.get(f"{frontend}{path}", timeout=10).headers
        csp = headers.get("content-security-policy", "")
        assert "img-src 'self' data:;" in csp and "frame-ancestors 'none'" in csp, path
        assert "script-src 'self';" in csp and "default-src 'self';" in csp, path
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name) == value, (path, name)
