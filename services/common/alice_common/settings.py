"""One settings base for every service: infrastructure addresses and shared secrets.

Environment variable names are the field names upper-cased, with no prefix, so the same
names appear in the code, docker-compose.yml and the k8s ConfigMaps/Secrets.
"""

from typing import Any

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
# Values this repository once shipped as development defaults: public, so never accepted.
PUBLISHED_SECRETS = frozenset({"dev-only-jwt-secret-not-for-production-use", "dev-internal-token"})
WHERE_SECRETS_COME_FROM = (
    "make dev generates them in .devstack/secrets.env, compose in .env (scripts/compose-env.sh), "
    'Kubernetes in Secrets (k8s/secrets/); docs/operations.md "Security"'
)


def require_secrets(data: Any, *names: str) -> Any:
    """Refuse to start without a secret, naming it and where it comes from (no defaults in code)."""
    if isinstance(data, dict):
        given = {key.lower() for key, value in data.items() if value not in (None, "")}
        missing = [name.upper() for name in names if name not in given]
        if missing:
            needed = ", ".join(missing)
            raise ValueError(f"{needed} not set: every run mode needs it; {WHERE_SECRETS_COME_FROM}")
    return data


def check_secret_strength(name: str, value: SecretStr) -> SecretStr:
    """A secret long enough not to be guessed, and never a published one, in every mode."""
    if value.get_secret_value() in PUBLISHED_SECRETS:
        raise ValueError(f"{name} has a value published in the repository's history: generate a new one")
    if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes")
    return value


class AliceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,  # secrets
    )

    service_name: str = "alice"
    # The deployment's name in logs; it relaxes nothing (no secret has a default, in any mode).
    alice_env: str = "production"
    log_level: str = "INFO"
    host: str = "0.0.0.0"
    port: int = 8000

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic and consumer group name; tests use it to isolate their data.
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = 6
    kafka_replication_factor: int = 1

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Longest wait for one Redis or MongoDB reply before the call fails (503 at the API).
    store_timeout_s: float = 5.0

    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "alice"

    weaviate_url: str = "http://127.0.0.1:8080"
    weaviate_grpc_port: int = 50051
    weaviate_api_key: SecretStr | None = None

    alice_internal_token: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _internal_token_is_set(cls, data: Any) -> Any:
        return require_secrets(data, "alice_internal_token")

    @field_validator("alice_internal_token")
    @classmethod
    def _internal_token_is_strong(cls, value: SecretStr) -> SecretStr:
        return check_secret_strength("ALICE_INTERNAL_TOKEN", value)

    def topic(self, name: str) -> str:
        """The deployment's name of a topic."""
        return f"{self.kafka_topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The deployment's name of a consumer group (prefixed like topics, so deployments and
        test sessions sharing one Kafka stay apart)."""
        return f"{self.kafka_topic_prefix}{name}"
