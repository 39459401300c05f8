"""Where devstack keeps things and which ports it uses; every value can be overridden by env."""

import os
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "4.1.1"
FERRETDB_VERSION = "v1.18.0"
WEAVIATE_VERSION = "v1.35.2"

TOOL_DIR = Path(__file__).resolve().parent.parent  # tools/devstack
REPO_ROOT = TOOL_DIR.parent.parent


def _port(env: str, default: int) -> int:
    value = os.environ.get(env, "")
    return int(value) if value.strip() else default


@dataclass(frozen=True)
class Ports:
    redis: int = field(default_factory=lambda: _port("ALICE_REDIS_PORT", 6379))
    kafka: int = field(default_factory=lambda: _port("ALICE_KAFKA_PORT", 9092))
    kafka_controller: int = field(default_factory=lambda: _port("ALICE_KAFKA_CONTROLLER_PORT", 9093))
    mongo: int = field(default_factory=lambda: _port("ALICE_MONGO_PORT", 27017))
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
    startup_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("ALICE_DEVSTACK_TIMEOUT", "180"))
    )

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

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
        return self.cache_dir / "bin" / f"ferretdb-{FERRETDB_VERSION}"

    @property
    def weaviate_bin(self) -> Path:
        return self.cache_dir / f"weaviate-{WEAVIATE_VERSION}" / "weaviate-server"

    def service_env(self) -> dict[str, str]:
        """Addresses of the infrastructure, in the services' own setting names."""
        p = self.ports
        return {
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{p.kafka}",
            "REDIS_URL": f"redis://127.0.0.1:{p.redis}/0",
            "MONGODB_URL": f"mongodb://127.0.0.1:{p.mongo}",
            "WEAVIATE_URL": f"http://127.0.0.1:{p.weaviate}",
            "WEAVIATE_GRPC_PORT": str(p.weaviate_grpc),
            "BACKEND_URL": f"http://127.0.0.1:{p.backend}",
            "ORCHESTRATOR_URL": f"http://127.0.0.1:{p.orchestrator}",
            "DATAFLOW_URL": f"http://127.0.0.1:{p.dataflow}",
            "KAFKAFLOW_URL": f"http://127.0.0.1:{p.kafkaflow}",
        }
