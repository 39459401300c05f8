"""FastAPI application: lifespan-owned clients, readiness checks, middleware, routes."""

import asyncio
import contextlib
import logging
from typing import TypeVar

from alice_common import clients, topics
from alice_common.app_context import set_app_context
from alice_common.kafka import ensure_topics
from alice_common.observability import install_observability, register_check
from alice_common.startup import Startup, starting_in_background
from alice_common.version import APP_VERSION
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from gridfs import AsyncGridFSBucket

from alice_backend import quotas
from alice_backend.account_deletion import AccountDeletion
from alice_backend.app_context import AppContext
from alice_backend.auth.api_keys import ApiKeys
from alice_backend.auth.oidc import OidcClient
from alice_backend.auth.refresh_tokens import RefreshTokenStore
from alice_backend.bodylimit import MULTIPART_OVERHEAD, BodySizeLimit
from alice_backend.dataflow_client import DataflowClient
from alice_backend.errors import install_error_handlers
from alice_backend.internal_client import InternalClient
from alice_backend.kafkaflow_client import KafkaflowClient
from alice_backend.openai_compat.errors import install_openai_errors
from alice_backend.openapi import install_openapi
from alice_backend.orchestrator_client import OrchestratorClient
from alice_backend.ratelimit import RateLimiter
from alice_backend.replies import routes as replies
from alice_backend.replies.shared_reader import ReplyHub
from alice_backend.replies.stream_slots import StreamSlots
from alice_backend.routes import (
    admin,
    admin_keys,
    archive,
    auth,
    conversations,
    documents,
    feedback,
    keys,
    models,
    oidc,
    presets,
    search,
    shares,
    v1,
    v1_embeddings,
)
from alice_backend.settings import Settings
from alice_backend.users import Users

log = logging.getLogger(__name__)


C = TypeVar("C", bound=InternalClient)


def _internal(client: type[C], settings: Settings, name: str, url: str) -> C:
    return client(name, url, settings.internal_token_of(name).get_secret_value(), settings.internal_timeout_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start(app: FastAPI, startup: Startup) -> None:
        # Each store may still be coming up (a fresh deploy starts everything at once): every step
        # that needs one waits for it (alice_common.startup); Redis is connected on first use.
        await startup.retry("kafka topics", ensure_topics, settings, topics.used_by("backend"))
        producer = await startup.retry("kafka producer", clients.started_kafka_producer, settings)
        startup.on_stop(producer.stop)
        # Without Kafka the backend still serves sign-in, history and running streams; sends
        # answer 503 with Retry-After.
        register_check(app, "kafka", clients.kafka_check(producer), required=False)
        redis = clients.redis_client(settings)
        startup.on_stop(redis.aclose)
        register_check(app, "redis", clients.redis_check(redis))
        reply_hub = ReplyHub(settings.redis_url, settings.sse_heartbeat_s)
        startup.on_stop(reply_hub.aclose)
        mongo = clients.mongo_client(settings)
        startup.on_stop(mongo.close)
        register_check(app, "mongodb", clients.mongo_check(mongo))
        db = mongo[settings.mongodb_database]
        users = Users(db)
        api_keys = ApiKeys(db, settings.api_key_cache_ttl_s, settings.max_api_keys_per_user)

        async def ensure_indexes() -> None:
            await users.ensure_indexes()
            await quotas.ensure_indexes(db)
            await api_keys.ensure_indexes()

        await startup.retry("mongodb indexes", ensure_indexes)
        refresh_tokens = RefreshTokenStore(redis, settings.refresh_token_ttl_s)
        uploads = AsyncGridFSBucket(db, bucket_name="uploads")
        orchestrator = _internal(OrchestratorClient, settings, "orchestrator", settings.orchestrator_url)
        dataflow = _internal(DataflowClient, settings, "dataflow", settings.dataflow_url)
        kafkaflow = _internal(KafkaflowClient, settings, "kafkaflow", settings.kafkaflow_url)
        for client in (orchestrator, dataflow, kafkaflow):
            startup.on_stop(client.aclose)
        sso = OidcClient(settings, redis) if settings.oidc_enabled else None
        if sso is not None:
            startup.on_stop(sso.aclose)
        ctx = AppContext(
            settings=settings,
            redis=redis,
            reply_hub=reply_hub,
            db=db,
            producer=producer,
            users=users,
            refresh_tokens=refresh_tokens,
            limiter=RateLimiter(redis),
            uploads=uploads,
            orchestrator=orchestrator,
            dataflow=dataflow,
            kafkaflow=kafkaflow,
            api_keys=api_keys,
            # Leased for three heartbeats: a stream renews it at least every heartbeat.
            stream_slots=StreamSlots(redis, settings.max_streams_per_user, 3 * settings.sse_heartbeat_s + 5),
            account_deletion=AccountDeletion(
                settings, db, redis, producer, users, api_keys, refresh_tokens, uploads
            ),
            oidc=sso,
        )
        set_app_context(app, ctx)
        sweeper = asyncio.create_task(ctx.account_deletion.sweep_forever(), name="account-deletion-sweeper")

        async def stop_sweeper() -> None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

        startup.on_stop(stop_sweeper)

    app = FastAPI(
        title="Alice backend",
        version=APP_VERSION,
        description='Public API of Alice. Errors are `{"error": {"code", "message"}}`.',
        lifespan=starting_in_background(start, settings.service_name),
    )
    install_error_handlers(app)
    install_openai_errors(app)
    for router in (
        auth.router,
        oidc.router,
        # Before `conversations`: its `/{conversation_id}` would take `/export` and `/import`.
        archive.router,
        conversations.router,
        shares.router,
        feedback.router,
        replies.router,
        documents.router,
        search.router,
        admin.router,
        admin_keys.router,
        keys.router,
        models.router,
        presets.router,
        v1.router,
        v1_embeddings.router,
    ):
        app.include_router(router)
    app.add_middleware(
        BodySizeLimit,
        json_limit=settings.max_json_body_bytes,
        path_limits={
            documents.UPLOAD_PATH: settings.max_upload_bytes + MULTIPART_OVERHEAD,
            archive.IMPORT_PATH: settings.max_import_bytes,
        },
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    install_observability(app, settings.service_name)
    install_openapi(app)
    return app
