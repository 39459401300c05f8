"""What the container tests share: the compose project of a test session and a command runner."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.versions import PINS

ROOT = Path(__file__).resolve().parents[2]
ALICE_IMAGES = ["backend", "orchestrator", "dataflow", "kafkaflow", "frontend", "inference"]
PORT_VARS = {
    "frontend": "ALICE_FRONTEND_PORT", "backend": "ALICE_BACKEND_PORT",
    "orchestrator": "ALICE_ORCHESTRATOR_PORT", "dataflow": "ALICE_DATAFLOW_PORT",
    "kafkaflow": "ALICE_KAFKAFLOW_PORT", "mongodb": "ALICE_MONGO_PORT", "redis": "ALICE_REDIS_PORT",
    "kafka": "ALICE_KAFKA_PORT", "weaviate": "ALICE_WEAVIATE_PORT",
    "weaviate-grpc": "ALICE_WEAVIATE_GRPC_PORT", "inference": "ALICE_INFERENCE_PORT",
}  # fmt: skip


def alice_image(name: str) -> str:
    """Alice's image `name` as compose builds it and the k8s base names it: tagged with the app
    version (versions.env's APP_VERSION)."""
    return f"alice/{name}:{PINS['APP_VERSION']}"


def run(
    argv: list[str], env: dict[str, str], timeout: float, check: bool = True
) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{output}")
    return result


@dataclass
class Compose:
    """One compose project of this test session."""

    env: dict[str, str]

    @property
    def project(self) -> str:
        return self.env["COMPOSE_PROJECT_NAME"]

    def port(self, service: str) -> int:
        return int(self.env[PORT_VARS[service]])

    @property
    def url(self) -> str:
        """The frontend's nginx: the public entry point."""
        return f"http://127.0.0.1:{self.port('frontend')}"

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return run(["scripts/compose.sh", *args], self.env, timeout, check)

    def container(self, service: str) -> str:
        found = self("ps", "-q", service, timeout=60).stdout.split()
        assert len(found) == 1, f"{service}: {found}"
        return found[0]
