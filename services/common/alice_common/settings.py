"""One settings base for every service: infrastructure addresses and shared secrets.

Environment variable names are the field names upper-cased, with no prefix, so the same
names appear in the code, docker-compose.yml and the k8s ConfigMaps/Secrets.
"""

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INTERNAL_TOKEN = "dev-internal-token"
MIN_SECRET_BYTES = 32


def check_production_secret(name: str, value: SecretStr, dev_value: str) -> None:
    """Outside development a secret must be set, and long enough not to be guessed."""
    secret = value.get_secret_value()
    if secret == dev_value:
        raise ValueError(f"{name} must be set when ALICE_ENV is not 'dev' (it has the development value)")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes when ALICE_ENV is not 'dev'")


class AliceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    service_name: str = "alice"
    # `dev` accepts the built-in development secrets; anything else refuses to start with them.
    alice_env: str = "dev"
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

    alice_internal_token: SecretStr = SecretStr(DEV_INTERNAL_TOKEN)

    @model_validator(mode="after")
    def _no_weak_internal_token_outside_dev(self) -> "AliceSettings":
        if self.alice_env != "dev":
            check_production_secret("ALICE_INTERNAL_TOKEN", self.alice_internal_token, DEV_INTERNAL_TOKEN)
        return self

    def topic(self, name: str) -> str:
        """The deployment's name of a topic."""
        return f"{self.kafka_topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The deployment's name of a consumer group (prefixed like topics, so deployments and
        test sessions sharing one Kafka stay apart)."""
        return f"{self.kafka_topic_prefix}{name}"
