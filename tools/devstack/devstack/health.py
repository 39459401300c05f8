"""Protocol-level health probes, stdlib only: each returns True when the server really answers;
`wait_http` polls an HTTP server until it does."""

import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"


def tcp_open(port: int, timeout: float = 1.0, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unix_open(path: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            return True
    except OSError:
        return False


def redis_ping(port: int, timeout: float = 1.0, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            # A Redis with a password answers NOAUTH: it is up all the same.
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def kafka_api_versions(port: int, timeout: float = 2.0, host: str = HOST) -> bool:
    """An ApiVersions v0 round trip: the broker only processes requests once it has fully started."""
    client_id = b"devstack"
    header = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(header)) + header)
            head = _recv_exact(sock, 10)  # size, correlation id, error code
    except OSError:
        return False
    if head is None:
        return False
    _, correlation_id, error_code = struct.unpack(">iih", head)
    return correlation_id == 1 and error_code == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def http_ok(url: str, timeout: float = 2.0) -> bool:
    status, body = http_get(url, timeout)
    return status is not None and answers_2xx(status, body)


def http_get(url: str, timeout: float = 5.0) -> tuple[int | None, bytes]:
    """(status, body) of GET url, error statuses included; (None, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError):
        return None, b""


class NotServing(RuntimeError):
    """A server did not answer as expected in time, or its process exited first."""


def answers_2xx(status: int, body: bytes) -> bool:
    return 200 <= status < 300


def wait_http(
    url: str,
    timeout_s: float,
    *,
    proc: subprocess.Popen | None = None,
    ok: Callable[[int, bytes], bool] = answers_2xx,
    interval_s: float = 0.2,
) -> None:
    """Poll GET url until `ok(status, body)` (by default: any 2xx). Raises NotServing when `proc`
    exits first or nothing acceptable answers within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise NotServing(f"{url}: its process exited with code {proc.returncode} before answering")
        status, body = http_get(url, timeout=min(5.0, max(timeout_s, 0.1)))
        if status is not None and ok(status, body):
            return
        if time.monotonic() >= deadline:
            seen = f"last answer {status}" if status is not None else "nothing answered"
            raise NotServing(f"{url} did not answer as expected within {timeout_s:g}s ({seen})")
        time.sleep(interval_s)
