"""Processes tests start: a service (`python -m alice_<service>`) and a Redis of a test's own."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from devstack import health
from devstack.config import Config
from devstack.process import stop_child
from devstack.provision import tail
from devstack.testing.infra import Infra


def service_env(infra: Infra, **overrides: object) -> dict[str, str]:
    """Environment for a service process talking to `infra`.

    MONGODB_DATABASE and KAFKA_TOPIC_PREFIX are unique to the test session (shared by the services
    one session starts, so they see each other's events); pass e.g. `mongodb_database=unique_name()`
    to isolate one test further. Overrides use setting names, any case: `redis_url=...`.
    """
    env = dict(os.environ)
    env.update(infra.env())
    env.update(
        {
            "MONGODB_DATABASE": infra.mongodb_database,
            "KAFKA_TOPIC_PREFIX": infra.kafka_topic_prefix,
            "HOST": "127.0.0.1",
        }
    )
    env.update({key.upper(): str(value) for key, value in overrides.items()})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_pair(attempts: int = 50) -> int:
    """A free port whose successor is free too."""
    for _ in range(attempts):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


def test_logs_dir() -> Path:
    path = Config().state_dir / "test-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json_object(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class ServiceProcess:
    """`python -m alice_<service>` on a free port, logging to a file whose tail errors show.

    >>> svc = ServiceProcess("backend", service_env(infra)).start()
    >>> httpx.get(svc.url + "/ready")
    >>> svc.kill(); svc.start()        # a hard crash, then a restart on the same port
    """

    def __init__(
        self,
        service: str,
        env: dict[str, str],
        *,
        port: int | None = None,
        ready_timeout_s: float | None = None,
    ) -> None:
        self.service = service
        self.port = port or free_port()
        self.env = env | {"PORT": str(self.port), "HOST": env.get("HOST", "127.0.0.1")}
        # Generous: on a busy 2-core machine importing a service's ML stack alone can take 20 s.
        self.ready_timeout_s = ready_timeout_s or float(os.environ.get("ALICE_TEST_READY_TIMEOUT", "120"))
        self.log_file = test_logs_dir() / f"{service}-{self.port}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True) -> "ServiceProcess":
        if self.running:
            return self
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"alice_{self.service}"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_ready:
            self.wait_ready()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready_status(self) -> int | None:
        """HTTP status of GET /ready, None when nothing answers."""
        return self.ready_report()[0]

    def ready_report(self) -> tuple[int | None, dict]:
        """(HTTP status, JSON body) of GET /ready; (None, {}) when nothing answers."""
        status, body = health.http_get(self.url + "/ready")
        return status, _json_object(body)

    def wait_ready(self, timeout_s: float | None = None) -> None:
        # Every check ok, optional ones too: tests start producing once consumers are assigned.
        def all_ready(status: int, body: bytes) -> bool:
            return _json_object(body).get("status") == "ready"

        if self.proc is None:
            raise RuntimeError(f"{self.service} was never started")
        timeout_s = timeout_s or self.ready_timeout_s
        try:
            health.wait_http(self.url + "/ready", timeout_s, proc=self.proc, ok=all_ready)
        except health.NotServing as exc:
            raise RuntimeError(self._failure(str(exc))) from None

    def _failure(self, what: str) -> str:
        return f"{self.service} on port {self.port} {what}; log {self.log_file}:\n{self.log_tail()}"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)

    def stop(self, timeout_s: float = 20) -> None:
        """SIGTERM (graceful shutdown), SIGKILL if it is still running after the timeout."""
        self._signal_and_wait(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown code runs."""
        self._signal_and_wait(signal.SIGKILL, 10)

    def restart(self, *, wait_ready: bool = True) -> "ServiceProcess":
        self.stop()
        return self.start(wait_ready=wait_ready)

    def _signal_and_wait(self, sig: int, timeout_s: float) -> None:
        if not self.running:
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class PrivateRedis:
    """A Redis server of one test's own (free port, temporary dir). No persistence unless
    `persistent`: then an append-only file, as the Kubernetes Redis has, kept across restarts."""

    def __init__(self, directory: Path, port: int | None = None, persistent: bool = False) -> None:
        self.port = port or free_port()
        self.dir = directory
        self.persistent = persistent
        self.log_file = test_logs_dir() / f"redis-{self.port}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10) -> "PrivateRedis":
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir)]
        argv += ["--save", "", "--appendonly", "yes" if self.persistent else "no"]
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while not health.redis_ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private Redis on port {self.port} did not start:\n{tail(self.log_file)}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc)


class SecondDevstack:
    """A devstack of its own: own state dir and free ports, so it never touches the shared stack."""

    def __init__(self, state_dir: Path) -> None:
        self.ports = {
            name: free_port()
            for name in (
                "ALICE_REDIS_PORT", "ALICE_KAFKA_PORT",
                "ALICE_KAFKA_CONTROLLER_PORT", "ALICE_WEAVIATE_PORT", "ALICE_WEAVIATE_GRPC_PORT",
                "ALICE_WEAVIATE_GOSSIP_PORT", "ALICE_WEAVIATE_DATA_PORT",
            )
        }  # fmt: skip
        # Weaviate joins its own Raft cluster through the RPC port next to the Raft port.
        raft = free_port_pair()
        self.ports |= {"ALICE_WEAVIATE_RAFT_PORT": raft, "ALICE_WEAVIATE_RAFT_RPC_PORT": raft + 1}
        self.state_dir = state_dir
        self.env = dict(os.environ) | {k: str(v) for k, v in self.ports.items()}
        self.env["ALICE_DEVSTACK_DIR"] = str(state_dir)

    @property
    def secrets(self) -> dict[str, str]:
        """This devstack's generated secrets (the same file its servers are started with)."""
        from devstack.secrets import load

        return load(self.state_dir)

    @property
    def mongodb_url(self) -> str:
        from devstack.config import mongo_socket, mongo_url

        return mongo_url(mongo_socket(self.state_dir))

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.secrets['REDIS_PASSWORD']}@127.0.0.1:{self.ports['ALICE_REDIS_PORT']}/0"

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "devstack", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
