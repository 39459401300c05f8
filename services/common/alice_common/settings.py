"""One settings base for every service: infrastructure addresses and shared secrets.

Environment variable names are the field names upper-cased, with no prefix, so the same
names appear in the code, docker-compose.yml and the k8s ConfigMaps/Secrets.
"""

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AliceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    service_name: str = "alice"
    log_level: str = "INFO"
    host: str = "0.0.0.0"
    port: int = 8000

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic and consumer group name; tests use it to isolate their data.
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = 6
    kafka_replication_factor: int = 1

    redis_url: str = "redis://127.0.0.1:6379/0"

    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = "alice"

    weaviate_url: str = "http://127.0.0.1:8080"
    weaviate_grpc_port: int = 50051
    weaviate_api_key: SecretStr | None = None

    alice_internal_token: SecretStr = SecretStr("dev-internal-token")

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"
