"""devstack.health.wait_http: the one wait for a server to come up."""

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from devstack.health import NotServing, wait_http
from devstack.testing import free_port


class Server:
    """Answers GET with `status` and `body`, settable while it runs."""

    def __init__(self) -> None:
        self.status, self.body = 503, b'{"status": "starting"}'
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ready"


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_returns_once_the_server_answers_2xx(server):
    threading.Timer(0.5, lambda: setattr(server, "status", 200)).start()
    started = time.monotonic()
    wait_http(server.url, 10, interval_s=0.05)
    assert 0.4 < time.monotonic() - started < 5


def test_an_ok_predicate_decides_on_status_and_body(server):
    server.status = 200
    with pytest.raises(NotServing, match=r"within 0.5s \(last answer 200\)"):
        wait_http(server.url, 0.5, ok=lambda status, body: b'"ready"' in body, interval_s=0.05)
    server.body = b'{"status": "ready"}'
    wait_http(server.url, 5, ok=lambda status, body: b'"ready"' in body)


def test_fails_early_when_the_process_exits(server):
    proc = subprocess.Popen(["sh", "-c", "exit 3"])
    started = time.monotonic()
    with pytest.raises(NotServing, match="exited with code 3"):
        wait_http(server.url, 30, proc=proc, interval_s=0.05)
    assert time.monotonic() - started < 10


def test_nothing_listening_times_out_saying_so():
    with pytest.raises(NotServing, match="nothing answered"):
        wait_http(f"http://127.0.0.1:{free_port()}/", 0.3, interval_s=0.05)
