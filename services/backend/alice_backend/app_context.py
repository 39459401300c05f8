"""Everything the routes need, created in the lifespan; routes take it as `Ctx` (auth/dependencies.py)."""

from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

from alice_backend.account_deletion import AccountDeletion
from alice_backend.auth.access_tokens import TokenVerifier
from alice_backend.auth.api_keys import ApiKeys
from alice_backend.auth.oidc import OidcClient
from alice_backend.auth.refresh_tokens import RefreshTokenStore
from alice_backend.dataflow_client import DataflowClient
from alice_backend.idempotency import IdempotencyStore
from alice_backend.kafkaflow_client import KafkaflowClient
from alice_backend.orchestrator_client import OrchestratorClient
from alice_backend.ownership_cache import OwnershipCache, TtlCache
from alice_backend.ratelimit import RateLimiter
from alice_backend.replies.shared_reader import ReplyHub
from alice_backend.replies.stream_slots import StreamSlots
from alice_backend.settings import Settings
from alice_backend.users import Users


@dataclass
class AppContext:
    settings: Settings
    redis: aioredis.Redis
    # The process's one reader of the reply streams it relays (SSE and /v1 streaming).
    reply_hub: ReplyHub
    db: AsyncDatabase
    producer: AIOKafkaProducer
    users: Users
    refresh_tokens: RefreshTokenStore
    limiter: RateLimiter
    uploads: AsyncGridFSBucket
    orchestrator: OrchestratorClient
    dataflow: DataflowClient
    kafkaflow: KafkaflowClient
    api_keys: ApiKeys
    stream_slots: StreamSlots
    account_deletion: AccountDeletion
    # Single sign-on, when OIDC_* is configured.
    oidc: OidcClient | None = None
    conversation_owners: OwnershipCache = field(default_factory=OwnershipCache)
    # user id -> settings.memory_enabled, so a send needs no MongoDB read.
    memory_settings: TtlCache = field(default_factory=TtlCache)
    # The orchestrator's models and their limits, for /v1 and /api/models (GET /internal/models).
    served_models: TtlCache = field(default_factory=lambda: TtlCache(ttl_s=10.0, max_entries=1))
    access_tokens: TokenVerifier = field(init=False)
    idempotency: IdempotencyStore = field(init=False)

    def __post_init__(self) -> None:
        self.access_tokens = TokenVerifier(self.settings.jwt_secret.get_secret_value())
        # An attempt's lease outlasts its longest run: the store reads and the publish timeout.
        lease_s = self.settings.publish_timeout_s + 2 * self.settings.store_timeout_s + 5
        self.idempotency = IdempotencyStore(self.redis, lease_s)
