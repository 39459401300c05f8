from typing import Any
from urllib.parse import urlsplit

from alice_common.settings import AliceSettings, check_secret_strength, require_secrets
from pydantic import SecretStr, field_validator, model_validator


def _secure_or_local(url: str) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or ""
    local = host in ("127.0.0.1", "localhost") or host.endswith(".localhost")
    return parts.scheme == "https" or (parts.scheme == "http" and local)


class Settings(AliceSettings):
    service_name: str = "backend"
    port: int = 8000

    orchestrator_url: str = "http://127.0.0.1:8001"
    dataflow_url: str = "http://127.0.0.1:8002"
    kafkaflow_url: str = "http://127.0.0.1:9094"
    internal_timeout_s: float = 10.0
    # Each internal service accepts its own token (its ALICE_INTERNAL_TOKEN), so a compromised
    # service holds no token another one accepts; only the backend holds all three. Unset: this
    # service's ALICE_INTERNAL_TOKEN (one token for all, as the test harness runs them).
    orchestrator_internal_token: SecretStr | None = None
    dataflow_internal_token: SecretStr | None = None
    kafkaflow_internal_token: SecretStr | None = None
    # Longest wait for Kafka to take and confirm a chat request: then the send answers 503 (not
    # queued) or 504 `outcome_unknown` (queued, not confirmed; docs/api.md "Retrying a send").
    publish_timeout_s: float = 5.0

    jwt_secret: SecretStr
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # Cookie `Secure` flag; off for plain-HTTP local development.
    refresh_cookie_secure: bool = False

    max_message_chars: int = 16000
    max_upload_bytes: int = 20 * 1024 * 1024
    max_json_body_bytes: int = 256 * 1024
    # Conversation export and import (docs/api.md "Export and import"): "export all" refuses a
    # user with more conversations; an import refuses a larger body or more of either.
    max_export_conversations: int = 1000
    max_import_bytes: int = 8 * 1024 * 1024
    max_import_conversations: int = 1000
    max_import_messages: int = 20_000

    # Per-user send token bucket: capacity and refill rate (tokens per second).
    send_rate_capacity: float = 20
    send_rate_per_s: float = 1.0
    max_concurrent_generations: int = 3
    # An active generation older than this no longer counts against the cap (crashed worker).
    active_generation_ttl_s: int = 600
    # `/v1` requests over the cap wait in line (docs/decisions/0065-queue-instead-of-429.md):
    # at most this many waiters per user, each at most this long; past either, 429.
    generation_queue_length: int = 16
    generation_queue_wait_s: float = 300.0
    # Failed logins per account and client address (a right password gives its token back).
    login_rate_per_account_capacity: float = 10
    login_rate_per_account_per_s: float = 0.1
    login_rate_per_ip_capacity: float = 50
    login_rate_per_ip_per_s: float = 1.0
    register_rate_per_ip_capacity: float = 20
    register_rate_per_ip_per_s: float = 0.2
    # Site-wide: sign-ups from all addresses together, per hour (a burst of this many, then
    # refilling evenly), so many addresses cannot mass-create accounts or probe emails.
    max_registrations_per_hour: int = 200
    upload_rate_capacity: float = 10
    upload_rate_per_s: float = 0.2
    # Storage per user (documents and their bytes); an upload past either is 413.
    max_documents_per_user: int = 500
    max_stored_bytes_per_user: int = 500 * 1024 * 1024
    # Each search runs the embedding model once: a token bucket per user.
    search_rate_capacity: float = 20
    search_rate_per_s: float = 0.5
    # `/v1/embeddings` runs the embedding model on up to 256 texts: a token bucket per user.
    embeddings_rate_capacity: float = 20
    embeddings_rate_per_s: float = 1.0
    # Imports write many documents at once: a token bucket per user.
    import_rate_capacity: float = 5
    import_rate_per_s: float = 0.05
    # Exports read every message of a conversation, or of up to 1,000: a token bucket per user.
    export_rate_capacity: float = 10
    export_rate_per_s: float = 0.1
    # Shared links (docs/api.md "Shared links"): creations per user, public reads per client address.
    share_rate_capacity: float = 10
    share_rate_per_s: float = 0.1
    shared_read_rate_per_ip_capacity: float = 60
    shared_read_rate_per_ip_per_s: float = 1.0
    # Presets saved or changed per user (docs/api.md "Presets").
    preset_rate_capacity: float = 20
    preset_rate_per_s: float = 0.2
    # Branch reads and choices per user (docs/api.md "Edit and branch"): each reads the
    # conversation's tree.
    branch_rate_capacity: float = 60
    branch_rate_per_s: float = 1.0

    # Personal API keys: at most this many per user; a revoked key stops working on every replica
    # within the cache time.
    max_api_keys_per_user: int = 10
    api_key_cache_ttl_s: float = 5.0

    sse_heartbeat_s: float = 15.0
    # Reply streams (GET /api/replies/{id}/stream) one user may hold open at once, over all replicas.
    max_streams_per_user: int = 10
    reply_meta_ttl_s: int = 24 * 3600
    # The exact proxies trusted to name the client in X-Forwarded-For (the per-address login and
    # sign-up limits key on it). None by default: natively the header is ignored and every client
    # is its connection's address; compose names the frontend's nginx, Kubernetes the pod network.
    forwarded_allow_ips: str = ""
    cors_origins: str = "http://localhost:3000,http://127.0.0.1:3000"

    # Accounts (docs/operations.md "Single sign-on"). Password sign-up and sign-in can be closed
    # when everyone signs in through the OpenID Connect provider.
    password_signup_enabled: bool = True
    password_login_enabled: bool = True
    # Single sign-on with OpenID Connect: all of issuer, client id and secret, or none of them.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_display_name: str = "SSO"
    # Whether a verified e-mail without an account creates one at its first sign-in.
    oidc_signup_enabled: bool = True
    # The address users open Alice at; the provider sends them back to <it>/api/auth/oidc/callback.
    public_url: str = ""
    # Every call to the provider: its time limit and the largest answer read.
    oidc_timeout_s: float = 10.0
    oidc_max_response_bytes: int = 512 * 1024
    # How long a started sign-in may take at the provider; how long discovery and keys are reused.
    oidc_login_ttl_s: int = 600
    oidc_metadata_ttl_s: int = 3600

    @model_validator(mode="before")
    @classmethod
    def _jwt_secret_is_set(cls, data: Any) -> Any:
        return require_secrets(data, "jwt_secret")

    @field_validator("jwt_secret")
    @classmethod
    def _jwt_secret_is_strong(cls, value: SecretStr) -> SecretStr:
        return check_secret_strength("JWT_SECRET", value)

    @field_validator("orchestrator_internal_token", "dataflow_internal_token", "kafkaflow_internal_token")
    @classmethod
    def _service_tokens_are_strong(cls, value: SecretStr | None, info) -> SecretStr | None:
        return None if value is None else check_secret_strength(info.field_name.upper(), value)

    @model_validator(mode="after")
    def _oidc_fully_configured(self) -> "Settings":
        secret = self.oidc_client_secret
        parts = {
            "OIDC_ISSUER": bool(self.oidc_issuer),
            "OIDC_CLIENT_ID": bool(self.oidc_client_id),
            "OIDC_CLIENT_SECRET": bool(secret and secret.get_secret_value()),
        }
        if any(parts.values()) and not all(parts.values()):
            missing = ", ".join(name for name, given in parts.items() if not given)
            raise ValueError(f"single sign-on is half configured: {missing} not set (set all three, or none)")
        if self.oidc_enabled and not self.public_url:
            raise ValueError("single sign-on needs PUBLIC_URL (where users open Alice) for its callback")
        if self.oidc_enabled and not _secure_or_local(self.oidc_issuer):
            raise ValueError("OIDC_ISSUER must be an https:// address (http:// only on this machine)")
        if not self.password_login_enabled and not self.oidc_enabled:
            raise ValueError("PASSWORD_LOGIN_ENABLED=false needs OIDC_* set: no one could sign in")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    def internal_token_of(self, service: str) -> SecretStr:
        """The token `service`'s internal API accepts."""
        return getattr(self, f"{service}_internal_token") or self.alice_internal_token

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]
