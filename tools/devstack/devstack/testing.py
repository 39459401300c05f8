"""pytest plugin (loaded by the root conftest.py): real infrastructure and service processes for tests.

Fixtures:
  infra          session: URLs of real Kafka, Redis, MongoDB (wire protocol) and Weaviate servers
  unique_name    function: `unique_name("db")` -> "db_3f2a9c1b7e" (isolates data between runs)
  start_service  function: `start_service("backend", **overrides)` -> a started ServiceProcess,
                 stopped when the test ends
  private_redis  function: a Redis of the test's own on a free port, to stop and start at will
  second_devstack function: a devstack of the test's own (state dir, free ports):
                 `second_devstack("start", "mongodb")`, to stop and start its servers at will

Where the servers come from, in this order:
  1. environment variables, each one on its own: ALICE_TEST_KAFKA (bootstrap servers),
     ALICE_TEST_REDIS_URL, ALICE_TEST_MONGODB_URL, ALICE_TEST_WEAVIATE_URL,
     ALICE_TEST_WEAVIATE_GRPC_PORT (default 50051);
  2. testcontainers, when a Docker engine answers AND holds every image they run (a daemon without
     registry access cannot pull them, and each test would then fail on the pull);
  3. the native stack: `devstack up --infra` when it is not up yet; what a test session started is
     stopped again by the last test session that ends (sessions running in parallel share it).
ALICE_TEST_INFRA=native|docker forces one of the last two. The choice and its reason are printed in
pytest's header.
"""

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack import health, process
from devstack.config import Config
from devstack.provision import tail

# ---------------------------------------------------------------------------------------------------
# Infrastructure


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    redis_url: str
    mongodb_url: str
    weaviate_url: str
    weaviate_grpc_port: int
    source: str  # "env" | "docker" | "native" (or a mix, e.g. "env+native")
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def mongodb_database(self) -> str:
        """The database this test session's services use (unique per session)."""
        return f"test_{self.session_id}"

    @property
    def kafka_topic_prefix(self) -> str:
        """Prefix for this test session's topics and consumer groups (unique per session)."""
        return f"test-{self.session_id}."

    def env(self) -> dict[str, str]:
        """The infrastructure addresses in the services' setting names."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "REDIS_URL": self.redis_url,
            "MONGODB_URL": self.mongodb_url,
            "WEAVIATE_URL": self.weaviate_url,
            "WEAVIATE_GRPC_PORT": str(self.weaviate_grpc_port),
        }


_ENV_KEYS = {
    "kafka_bootstrap_servers": "ALICE_TEST_KAFKA",
    "redis_url": "ALICE_TEST_REDIS_URL",
    "mongodb_url": "ALICE_TEST_MONGODB_URL",
    "weaviate_url": "ALICE_TEST_WEAVIATE_URL",
}


# The images _docker_infra runs (testcontainers also starts its own "ryuk" reaper image).
DOCKER_INFRA_IMAGES = (
    "redis:7",
    "confluentinc/cp-kafka:7.6.0",
    "mongo:7",
    "semitechnologies/weaviate:1.35.2",
    "testcontainers/ryuk:0.8.1",
)


def docker_available() -> bool:
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def docker_images_missing(images: tuple[str, ...] = DOCKER_INFRA_IMAGES) -> list[str]:
    """Which of `images` the Docker engine does not hold (pulling is not tried: it may hang)."""
    missing = []
    for image in images:
        try:
            found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            return list(images)
        if found.returncode != 0:
            missing.append(image)
    return missing


def choose_infra() -> tuple[str, str]:
    """("docker" | "native", why): what the `infra` fixture uses unless every address comes from env."""
    choice = os.environ.get("ALICE_TEST_INFRA", "")
    if choice in ("docker", "native"):
        return choice, "ALICE_TEST_INFRA"
    if not docker_available():
        return "native", "no Docker engine answers"
    missing = docker_images_missing()
    if missing:
        return "native", f"Docker answers but lacks {', '.join(missing)} (no registry to pull from)"
    return "docker", "Docker answers and holds every image"


_CHOICE: tuple[str, str] | None = None


def _infra_choice() -> tuple[str, str]:
    global _CHOICE
    if _CHOICE is None:
        _CHOICE = choose_infra()
    return _CHOICE


def pytest_report_header(config: pytest.Config) -> str:
    if all(os.environ.get(key) for key in _ENV_KEYS.values()):
        return "infrastructure: from ALICE_TEST_* environment variables"
    kind, why = _infra_choice()
    return f"infrastructure: {kind} ({why})"


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Infra]:
    from_env = {attr: os.environ[key] for attr, key in _ENV_KEYS.items() if os.environ.get(key)}
    grpc_port = int(os.environ.get("ALICE_TEST_WEAVIATE_GRPC_PORT") or 50051)
    if len(from_env) == len(_ENV_KEYS):
        yield Infra(**from_env, weaviate_grpc_port=grpc_port, source="env")
        return
    provider = _docker_infra if _infra_choice()[0] == "docker" else _native_infra
    resources = contextlib.ExitStack()
    with _visible_output(request):
        found = resources.enter_context(provider())
    try:
        merged = found.__dict__ | from_env
        if from_env:
            merged["source"] = f"env+{found.source}"
            if "weaviate_url" in from_env:
                merged["weaviate_grpc_port"] = grpc_port
        yield Infra(**merged)
    finally:
        with _visible_output(request):
            resources.close()


@contextlib.contextmanager
def _visible_output(request: pytest.FixtureRequest) -> Iterator[None]:
    """Show startup progress (slow the first time) even though pytest captures output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


@contextlib.contextmanager
def _native_infra() -> Iterator[Infra]:
    from devstack.stack import Stack

    stack = Stack(Config())
    with _NativeLease(stack):
        p = stack.cfg.ports
        yield Infra(
            kafka_bootstrap_servers=f"127.0.0.1:{p.kafka}",
            redis_url=f"redis://127.0.0.1:{p.redis}/0",
            mongodb_url=f"mongodb://127.0.0.1:{p.mongo}",
            weaviate_url=f"http://127.0.0.1:{p.weaviate}",
            weaviate_grpc_port=p.weaviate_grpc,
            source="native",
        )


class _NativeLease:
    """Test sessions share the native stack: each holds a lease (a file named after its pid) while it
    runs; infrastructure a test session started is stopped by the last session to leave."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.dir = stack.cfg.state_dir / "testing"
        self.lease = self.dir / "leases" / f"{os.getpid()}.json"
        self.started_file = self.dir / "started.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lease.parent.mkdir(parents=True, exist_ok=True)
        with (self.dir / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def __enter__(self) -> "_NativeLease":
        with self._locked():
            start_time = process.proc_start_time(os.getpid())
            self.lease.write_text(json.dumps({"pid": os.getpid(), "start_time": start_time}))
            comps = self.stack.select(infra_only=True)
            missing = [c for c in comps if self.stack.status(c).state not in ("up", "external")]
            if missing:
                started = self.stack.start(missing)
                self._write_started(sorted(set(self._read_started()) | set(started)))
            self.before = _TestData.snapshot(self.stack.cfg.ports)
        return self

    def __exit__(self, *exc) -> None:
        with self._locked():
            self.lease.unlink(missing_ok=True)
            if self._other_live_leases():
                return
            _TestData.remove_new(self.stack.cfg.ports, self.before)
            started = self._read_started()
            if started:
                self.stack.stop(self.stack.select(started))
            self.started_file.unlink(missing_ok=True)

    def _read_started(self) -> list[str]:
        try:
            return json.loads(self.started_file.read_text())
        except (OSError, ValueError):
            return []

    def _write_started(self, names: list[str]) -> None:
        self.started_file.write_text(json.dumps(names))

    def _other_live_leases(self) -> bool:
        live = False
        for path in self.lease.parent.glob("*.json"):
            try:
                lease = json.loads(path.read_text())
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
                continue
            if process.proc_start_time(lease["pid"]) == lease["start_time"]:
                live = True
            else:
                path.unlink(missing_ok=True)  # a crashed session's lease
        return live


class _TestData:
    """Topics and databases the tests created, removed when the last test session leaves, so the
    shared dev stack does not pile up thousands of prefixed topics (which slow Kafka and kafkaflow).
    Only what is new since the session started and is prefixed is removed: the dev stack's own
    topics (`chat.requests`, ...) and database (`alice`) are never touched."""

    KEEP_DATABASES = frozenset({"alice", "admin", "local", "config"})
    BARE_TOPIC_ROOTS = ("chat.", "documents.", "conversations.", "kafkaflow.", "__")

    @staticmethod
    def snapshot(ports) -> tuple[set[str], set[str]] | None:
        try:
            return _TestData._topics(ports), _TestData._databases(ports)
        except Exception as exc:  # nothing to compare with: remove nothing
            print(f"devstack.testing: test data will not be removed: {exc}", file=sys.stderr)
            return None

    @staticmethod
    def _run(coroutine_fn):
        """Run an async admin call to completion from sync code, even when the caller's thread already
        runs an event loop (session fixtures can be set up from inside an async test)."""
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, coroutine_fn()).result()

    @classmethod
    def remove_new(cls, ports, before: tuple[set[str], set[str]] | None) -> None:
        if before is None:
            return
        topics_before, dbs_before = before
        try:
            topics = [t for t in cls._topics(ports) - topics_before if not t.startswith(cls.BARE_TOPIC_ROOTS)]
            databases = cls._databases(ports) - dbs_before - cls.KEEP_DATABASES
            cls._delete(ports, topics, databases)
        except Exception as exc:  # cleanup is hygiene, never a test failure
            print(f"devstack.testing: could not remove test data: {exc}", file=sys.stderr)

    @staticmethod
    def _topics(ports) -> set[str]:
        from aiokafka.admin import AIOKafkaAdminClient

        async def list_topics() -> set[str]:
            admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{ports.kafka}")
            await admin.start()
            try:
                return set(await admin.list_topics())
            finally:
                await admin.close()

        return _TestData._run(list_topics)

    @staticmethod
    def _databases(ports) -> set[str]:
        from pymongo import MongoClient

        with MongoClient(f"mongodb://127.0.0.1:{ports.mongo}", serverSelectionTimeoutMS=3000) as client:
            return set(client.list_database_names())

    @staticmethod
    def _delete(ports, topics: list[str], databases: set[str]) -> None:
        from aiokafka.admin import AIOKafkaAdminClient
        from pymongo import MongoClient

        async def delete_topics() -> None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{ports.kafka}", request_timeout_ms=60000
            )
            await admin.start()
            try:
                for i in range(0, len(topics), 100):
                    await admin.delete_topics(topics[i : i + 100])
            finally:
                await admin.close()

        if topics:
            _TestData._run(delete_topics)
        with MongoClient(f"mongodb://127.0.0.1:{ports.mongo}", serverSelectionTimeoutMS=3000) as client:
            for name in databases:
                client.drop_database(name)
        print(f"devstack.testing: removed {len(topics)} test topics and {len(databases)} test databases")


@contextlib.contextmanager
def _docker_infra() -> Iterator[Infra]:
    """Throwaway containers for the session (needs a Docker engine; not available on every machine)."""
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="testcontainers")
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer
    from testcontainers.redis import RedisContainer
    from testcontainers.weaviate import WeaviateContainer

    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisContainer("redis:7"))
        kafka = stack.enter_context(KafkaContainer().with_kraft())
        mongo = stack.enter_context(MongoDbContainer("mongo:7"))
        weaviate = stack.enter_context(WeaviateContainer("semitechnologies/weaviate:1.35.2"))
        redis_host = redis.get_container_host_ip()
        yield Infra(
            kafka_bootstrap_servers=kafka.get_bootstrap_server(),
            redis_url=f"redis://{redis_host}:{redis.get_exposed_port(6379)}/0",
            mongodb_url=mongo.get_connection_url(),
            weaviate_url=f"http://{weaviate.get_http_host()}:{weaviate.get_http_port()}",
            weaviate_grpc_port=weaviate.get_grpc_port(),
            source="docker",
        )


# ---------------------------------------------------------------------------------------------------
# Names and service settings


def unique_name(prefix: str = "t") -> str:
    """A name no other test run uses: letters, digits and '_' only (valid for databases and topics)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture(name="unique_name")
def unique_name_fixture():
    return unique_name


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


def _test_logs_dir() -> Path:
    path = Config().state_dir / "test-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------------
# Processes


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
        self.log_file = _test_logs_dir() / f"{service}-{self.port}-{uuid.uuid4().hex[:6]}.log"
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
        try:
            with urllib.request.urlopen(self.url + "/ready", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except (urllib.error.URLError, OSError, ValueError):
            return None, {}

    def wait_ready(self, timeout_s: float | None = None) -> None:
        deadline = time.monotonic() + (timeout_s or self.ready_timeout_s)
        while time.monotonic() < deadline:
            if not self.running:
                code = self.proc.returncode if self.proc else None
                raise RuntimeError(self._failure(f"exited with code {code} before it was ready"))
            # Every check ok, optional ones too: tests start producing once consumers are assigned.
            if self.ready_report()[1].get("status") == "ready":
                return
            time.sleep(0.2)
        raise RuntimeError(self._failure(f"/ready was not ready within {timeout_s or self.ready_timeout_s}s"))

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


@pytest.fixture
def start_service(infra: Infra) -> Iterator:
    """Factory: `start_service("orchestrator", kafka_topic_prefix=..., wait_ready=True)`."""
    started: list[ServiceProcess] = []

    def start(service: str, *, wait_ready: bool = True, **overrides: object) -> ServiceProcess:
        svc = ServiceProcess(service, service_env(infra, **overrides))
        started.append(svc)
        return svc.start(wait_ready=wait_ready)

    yield start
    for svc in reversed(started):
        svc.stop()


class PrivateRedis:
    """A Redis server of one test's own (free port, temporary dir). No persistence unless
    `persistent`: then an append-only file, as the Kubernetes Redis has, kept across restarts."""

    def __init__(self, directory: Path, port: int | None = None, persistent: bool = False) -> None:
        self.port = port or free_port()
        self.dir = directory
        self.persistent = persistent
        self.log_file = _test_logs_dir() / f"redis-{self.port}-{uuid.uuid4().hex[:6]}.log"
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
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


class SecondDevstack:
    """A devstack of its own: own state dir and free ports, so it never touches the shared stack."""

    def __init__(self, state_dir: Path) -> None:
        self.ports = {
            name: free_port()
            for name in (
                "ALICE_REDIS_PORT", "ALICE_MONGO_PORT", "ALICE_KAFKA_PORT",
                "ALICE_KAFKA_CONTROLLER_PORT", "ALICE_WEAVIATE_PORT",
            )
        }  # fmt: skip
        self.state_dir = state_dir
        self.env = dict(os.environ) | {k: str(v) for k, v in self.ports.items()}
        self.env["ALICE_DEVSTACK_DIR"] = str(state_dir)

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "devstack", *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@pytest.fixture
def second_devstack(tmp_path: Path) -> Iterator["SecondDevstack"]:
    stack = SecondDevstack(tmp_path / "devstack")
    yield stack
    stack("down")
