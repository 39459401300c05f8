"""FastAPI application: lifespan-owned clients, readiness checks, middleware, routes."""

import logging
from contextlib import asynccontextmanager

from alice_common import clients
from alice_common.app_context import set_app_context
from alice_common.events import Topics
from alice_common.kafka import ensure_topics
from alice_common.observability import install_observability, register_check
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from gridfs import AsyncGridFSBucket

from alice_backend import quotas
from alice_backend.app_context import AppContext
from alice_backend.auth.api_keys import ApiKeys
from alice_backend.auth.refresh_tokens import RefreshTokenStore
from alice_backend.bodylimit import BodySizeLimit
from alice_backend.errors import install_error_handlers
from alice_backend.internal_client import InternalClient
from alice_backend.openai_compat.errors import install_openai_errors
from alice_backend.openapi import install_openapi
from alice_backend.ratelimit import RateLimiter
from alice_backend.reply_hub import ReplyHub
from alice_backend.routes import admin, auth, conversations, documents, keys, replies, search, v1
from alice_backend.settings import Settings
from alice_backend.stream_slots import StreamSlots
from alice_backend.users import Users

log = logging.getLogger(__name__)

PUBLISHED_TOPICS = [Topics.CHAT_REQUESTS, Topics.DOCUMENTS_UPLOADED]


def _internal(settings: Settings, name: str, url: str) -> InternalClient:
    return InternalClient(
        name, url, settings.alice_internal_token.get_secret_value(), settings.internal_timeout_s
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await ensure_topics(settings, PUBLISHED_TOPICS)
        producer = await clients.started_kafka_producer(settings)
        # Without Kafka the backend still serves sign-in, history and running streams; sends
        # answer 503 with Retry-After.
        register_check(app, "kafka", clients.kafka_check(producer), required=False)
        redis = clients.redis_client(settings)
        register_check(app, "redis", clients.redis_check(redis))
        reply_hub = ReplyHub(settings.redis_url, settings.sse_heartbeat_s)
        mongo = clients.mongo_client(settings)
        register_check(app, "mongodb", clients.mongo_check(mongo))
        db = mongo[settings.mongodb_database]
        users = Users(db)
        await users.ensure_indexes()
        await quotas.ensure_indexes(db)
        api_keys = ApiKeys(db, settings.api_key_cache_ttl_s, settings.max_api_keys_per_user)
        await api_keys.ensure_indexes()
        ctx = AppContext(
            settings=settings,
            redis=redis,
            reply_hub=reply_hub,
            db=db,
            producer=producer,
            users=users,
            refresh_tokens=RefreshTokenStore(redis, settings.refresh_token_ttl_s),
            limiter=RateLimiter(redis),
            uploads=AsyncGridFSBucket(db, bucket_name="uploads"),
            orchestrator=_internal(settings, "orchestrator", settings.orchestrator_url),
            dataflow=_internal(settings, "dataflow", settings.dataflow_url),
            kafkaflow=_internal(settings, "kafkaflow", settings.kafkaflow_url),
            api_keys=api_keys,
            # Leased for three heartbeats: a stream renews it at least every heartbeat.
            stream_slots=StreamSlots(redis, settings.max_streams_per_user, 3 * settings.sse_heartbeat_s + 5),
        )
        set_app_context(app, ctx)
        try:
            yield
        finally:
            for client in (ctx.orchestrator, ctx.dataflow, ctx.kafkaflow):
                await client.aclose()
            await producer.stop()
            await redis.aclose()
            await reply_hub.aclose()
            await mongo.close()

    app = FastAPI(
        title="Alice backend",
        version="1.0.0",
        description='Public API of Alice. Errors are `{"error": {"code", "message"}}`.',
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openai_errors(app)
    for router in (
        auth.router,
        conversations.router,
        replies.router,
        documents.router,
        search.router,
        admin.router,
        keys.router,
        v1.router,
    ):
        app.include_router(router)
    app.add_middleware(
        BodySizeLimit,
        json_limit=settings.max_json_body_bytes,
        upload_limit=settings.max_upload_bytes,
        upload_paths=(documents.UPLOAD_PATH,),
    )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    install_observability(app, settings.service_name)
    install_openapi(app)
    return app
