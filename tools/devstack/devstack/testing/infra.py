"""Which servers the tests use: addresses from the environment, throwaway containers, or the shared
native stack (see the package docstring for the order), and the `Infra` that describes them."""

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from devstack.config import Config
from devstack.secrets import random_secret
from devstack.testing.leases import NativeLease
from devstack.testing.testdata import Ownership, handed_out_names


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    redis_url: str
    mongodb_url: str
    weaviate_url: str
    weaviate_grpc_port: int
    source: str  # "env" | "docker" | "native" (or a mix, e.g. "env+native")
    weaviate_api_key: str | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    # The services' own secrets (no defaults in code): the native stack's, else random per session.
    jwt_secret: str = field(default_factory=lambda: random_secret(64))
    internal_token: str = field(default_factory=lambda: random_secret(48))

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
            "JWT_SECRET": self.jwt_secret,
            "ALICE_INTERNAL_TOKEN": self.internal_token,
        } | ({"WEAVIATE_API_KEY": self.weaviate_api_key} if self.weaviate_api_key else {})

    def ownership(self) -> Ownership:
        """The topics and databases this session may delete when it ends."""
        return Ownership(self.kafka_topic_prefix, self.mongodb_database, handed_out_names())


ENV_KEYS = {
    "kafka_bootstrap_servers": "ALICE_TEST_KAFKA",
    "redis_url": "ALICE_TEST_REDIS_URL",
    "mongodb_url": "ALICE_TEST_MONGODB_URL",
    "weaviate_url": "ALICE_TEST_WEAVIATE_URL",
}
OPTIONAL_ENV_KEYS = {"weaviate_api_key": "ALICE_TEST_WEAVIATE_API_KEY"}


def addresses_from_env() -> dict[str, str]:
    return {attr: os.environ[key] for attr, key in ENV_KEYS.items() if os.environ.get(key)}


def credentials_from_env() -> dict[str, str]:
    return {attr: os.environ[key] for attr, key in OPTIONAL_ENV_KEYS.items() if os.environ.get(key)}


def weaviate_grpc_port_from_env() -> int:
    return int(os.environ.get("ALICE_TEST_WEAVIATE_GRPC_PORT") or 50051)


# The images docker_infra runs (testcontainers also starts its own "ryuk" reaper image).
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


def _key_unless_anonymous(weaviate_url: str, key: str) -> str | None:
    """A shared Weaviate that code from before issue 23 started takes no API key (and refuses one):
    use it without, and say how to secure it, instead of failing every Weaviate test."""
    from devstack import health

    status, _ = health.http_get(f"{weaviate_url}/v1/schema")
    if status == 200:
        print(
            "devstack.testing: the running Weaviate allows anonymous access (started by older code);"
            " restart it to require its API key: python -m devstack stop weaviate && ... start weaviate"
        )
        return None
    return key


@contextlib.contextmanager
def native_infra() -> Iterator[Infra]:
    from devstack.stack import Stack

    stack = Stack(Config())
    with NativeLease(stack):
        env = stack.cfg.service_env()  # the stack's addresses and credentials
        secrets = stack.cfg.secrets()
        yield Infra(
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            redis_url=env["REDIS_URL"],
            mongodb_url=env["MONGODB_URL"],
            weaviate_url=env["WEAVIATE_URL"],
            weaviate_grpc_port=int(env["WEAVIATE_GRPC_PORT"]),
            weaviate_api_key=_key_unless_anonymous(env["WEAVIATE_URL"], env["WEAVIATE_API_KEY"]),
            jwt_secret=secrets["JWT_SECRET"],
            internal_token=secrets["ALICE_INTERNAL_TOKEN"],
            source="native",
        )


@contextlib.contextmanager
def docker_infra() -> Iterator[Infra]:
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
