from alice_common.settings import AliceSettings
from pydantic import SecretStr, model_validator

# Only accepted when ALICE_ENV=dev; any other environment must set JWT_SECRET.
DEV_JWT_SECRET = "dev-only-jwt-secret-not-for-production-use"


class Settings(AliceSettings):
    service_name: str = "backend"
    port: int = 8000
    alice_env: str = "dev"

    orchestrator_url: str = "http://127.0.0.1:8001"
    dataflow_url: str = "http://127.0.0.1:8002"
    kafkaflow_url: str = "http://127.0.0.1:9094"
    internal_timeout_s: float = 10.0

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    alice_admin_emails: str = ""
    # Cookie `Secure` flag; off for plain-HTTP local development.
    refresh_cookie_secure: bool = False

    max_message_chars: int = 16000
    max_upload_bytes: int = 20 * 1024 * 1024
    max_json_body_bytes: int = 256 * 1024

    # Per-user send token bucket: capacity and refill rate (tokens per second).
    send_rate_capacity: float = 20
    send_rate_per_s: float = 1.0
    max_concurrent_generations: int = 3
    # An active generation older than this no longer counts against the cap (crashed worker).
    active_generation_ttl_s: int = 600
    login_rate_per_account_capacity: float = 10
    login_rate_per_account_per_s: float = 0.1
    login_rate_per_ip_capacity: float = 50
    login_rate_per_ip_per_s: float = 1.0
    register_rate_per_ip_capacity: float = 20
    register_rate_per_ip_per_s: float = 0.2
    upload_rate_capacity: float = 10
    upload_rate_per_s: float = 0.2

    # Personal API keys: at most this many per user; a revoked key stops working on every replica
    # within the cache time.
    max_api_keys_per_user: int = 10
    api_key_cache_ttl_s: float = 5.0

    sse_heartbeat_s: float = 15.0
    reply_meta_ttl_s: int = 24 * 3600
    cors_origins: str = "http://localhost:3000,http://127.0.0.1:3000"

    @model_validator(mode="after")
    def _no_dev_secret_outside_dev(self) -> "Settings":
        if self.alice_env != "dev" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET must be set when ALICE_ENV is not 'dev'")
        return self

    @property
    def admin_emails(self) -> set[str]:
        return {e.strip().lower() for e in self.alice_admin_emails.split(",") if e.strip()}

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
