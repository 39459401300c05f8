"""Which servers the tests use: addresses from the environment, or the shared native stack (see the
package docstring), and the `Infra` that describes them."""

import contextlib
import os
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
    source: str  # "env" | "native" | "env+native"
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
