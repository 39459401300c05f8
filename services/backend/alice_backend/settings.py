from alice_common.settings import AliceSettings, check_production_secret
from pydantic import SecretStr, model_validator

# Only accepted when ALICE_ENV=dev; any other environment must set JWT_SECRET.
DEV_JWT_SECRET = "dev-only-jwt-secret-not-for-production-use"


class Settings(AliceSettings):
    service_name: str = "backend"
    port: int = 8000

    orchestrator_url: str = "http://127.0.0.1:8001"
    dataflow_url: str = "http://127.0.0.1:8002"
    kafkaflow_url: str = "http://127.0.0.1:9094"
    internal_timeout_s: float = 10.0
    # Longest wait for Kafka to take and confirm a chat request: then the send answers 503 (not
    # queued) or 504 `outcome_unknown` (queued, not confirmed; docs/api.md "Retrying a send").
    publish_timeout_s: float = 5.0

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
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
    # Storage per user (documents and their bytes); an upload past either is 413.
    max_documents_per_user: int = 500
    max_stored_bytes_per_user: int = 500 * 1024 * 1024
    # Each search runs the embedding model once: a token bucket per user.
    search_rate_capacity: float = 20
    search_rate_per_s: float = 0.5

    # Personal API keys: at most this many per user; a revoked key stops working on every replica
    # within the cache time.
    max_api_keys_per_user: int = 10
    api_key_cache_ttl_s: float = 5.0

    sse_heartbeat_s: float = 15.0
    # Reply streams (GET /api/replies/{id}/stream) one user may hold open at once, over all replicas.
    max_streams_per_user: int = 10
    reply_meta_ttl_s: int = 24 * 3600
    # Proxies trusted to name the client in X-Forwarded-For (the per-address login and sign-up
    # limits key on it): the local dev proxy by default; the ingress and frontend in a cluster.
    forwarded_allow_ips: str = "127.0.0.1"
    cors_origins: str = "http://localhost:3000,http://127.0.0.1:3000"

    @model_validator(mode="after")
    def _no_dev_secret_outside_dev(self) -> "Settings":
        if self.alice_env != "dev":
            check_production_secret("JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET)
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
