"""FastAPI application: lifespan-owned clients, the chat worker, readiness checks, routes.

Start order: producer, stores, model, then the consumer; stop in reverse (consumer first, so
in-flight replies finish or are abandoned uncommitted before the producer goes away).
"""

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from alice_common import clients, topics, vectorstore
from alice_common.app_context import set_app_context
from alice_common.embeddings import get_embedder
from alice_common.events import ChatCompleted, ConversationDeleted
from alice_common.host_check import AllowedHostsMiddleware
from alice_common.kafka import ConsumeLoop, ConsumeOptions, enqueue, ensure_topics, publish
from alice_common.kafka.deliveries import RedisDeliveryCounter
from alice_common.kafka.failures import DeliveryCounter
from alice_common.observability import install_observability, register_check
from alice_common.startup import Startup, starting_in_background
from alice_common.version import APP_VERSION
from fastapi import FastAPI

from alice_orchestrator.api import install_internal_api
from alice_orchestrator.app_context import AppContext
from alice_orchestrator.chat import ChatHandler, InvalidRequest
from alice_orchestrator.model_health import ModelHealth
from alice_orchestrator.providers import make_provider
from alice_orchestrator.providers.registry import ModelRegistry, default_model, extra_models
from alice_orchestrator.retrieval import WeaviateRetriever
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore
from alice_orchestrator.user_deletions import UserDeletions

log = logging.getLogger(__name__)

SERVICE = "orchestrator"  # its name in alice_common.topics


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start(app: FastAPI, startup: Startup) -> None:
        # Each store may still be coming up: every step that needs one waits for it
        # (alice_common.startup). Redis is connected on first use.
        producer = await startup.retry("kafka producer", clients.started_kafka_producer, settings)
        startup.on_stop(producer.stop)
        # Kafka and the consumer are reported, not required: the Service only routes the internal
        # API (history) here, which needs MongoDB alone; consuming needs no Service at all.
        register_check(app, "kafka", clients.kafka_check(producer), required=False)
        redis = clients.redis_client(settings)
        startup.on_stop(redis.aclose)
        register_check(app, "redis", clients.redis_check(redis))
        mongo = clients.mongo_client(settings)
        startup.on_stop(mongo.close)
        register_check(app, "mongodb", clients.mongo_check(mongo))
        weaviate = clients.weaviate_client(settings)
        startup.on_stop(weaviate.close)
        try:
            await weaviate.connect()
        except Exception as exc:  # chat works without it; retrieval reconnects when it is back
            log.warning("Weaviate unavailable at startup (retrieval off until it is back): %s", exc)
        # Chat goes on without retrieval while Weaviate is away.
        register_check(app, "weaviate", clients.weaviate_check(weaviate), required=False)

        db = mongo[settings.mongodb_database]
        store = ChatStore(db)
        await startup.retry("mongodb indexes", store.ensure_indexes)
        if weaviate.is_connected():
            try:
                await vectorstore.ensure_collections(weaviate)
            except Exception as exc:  # retrieval degrades to "no sources" until Weaviate is back
                log.warning("cannot ensure Weaviate collections: %s", exc)
        # The LLM_MODELS endpoints first: a missing API key fails the start before the model loads.
        extras = extra_models(settings)
        for extra in extras:
            startup.on_stop(extra.provider.close)
        provider = await asyncio.to_thread(make_provider, settings)
        startup.on_stop(provider.close)
        models = ModelRegistry(default_model(settings, provider), extras)
        warm_up = getattr(provider, "warm_up", None)
        if warm_up is not None:
            await warm_up()
        embedder = await asyncio.to_thread(get_embedder, settings)

        async def publish_completed(event: ChatCompleted) -> None:
            await publish(producer, settings, topics.CHAT_COMPLETED, event)

        async def publish_deleted(event: ConversationDeleted) -> None:
            await publish(producer, settings, topics.CONVERSATIONS_DELETED, event)

        async def announce_imported(events: list[ChatCompleted]) -> None:
            # All queued first, then awaited together: the producer sends them in batches.
            acknowledged = [await enqueue(producer, settings, topics.CHAT_COMPLETED, e) for e in events]
            await asyncio.gather(*acknowledged)

        retriever = WeaviateRetriever(settings, weaviate, embedder)
        health = ModelHealth(settings, models)
        startup.on_stop(health.close)
        handler = ChatHandler(settings, store, redis, models, publish_completed, retriever, health)
        turns = handler.recent_turns
        context = AppContext(settings, store, turns, models, publish_deleted, announce_imported, health)
        set_app_context(app, context)
        await startup.retry("kafka topics", ensure_topics, settings, topics.used_by(SERVICE))
        # Deliveries are counted in Redis (not FerretDB: it is on the path to the first token;
        # docs/performance.md).
        loop = chat_requests_consumer(settings, handler, producer, RedisDeliveryCounter(redis))
        await startup.retry(f"{topics.CHAT_REQUESTS.name} consumer", loop.start)
        startup.on_stop(loop.stop)
        deletions = UserDeletions(db, store, handler.recent_turns, redis)
        purges = topics.USERS_DELETED
        purge_loop = ConsumeLoop(
            settings,
            purges,
            purges.group_of(SERVICE),
            deletions.handle,
            producer,
            options=ConsumeOptions(max_concurrency=2),
        )
        await startup.retry(f"{purges.name} consumer", purge_loop.start)
        startup.on_stop(purge_loop.stop)

        async def consumer_check() -> None:
            if not loop.assigned:
                raise RuntimeError(f"{topics.CHAT_REQUESTS.name} consumer not assigned yet")

        register_check(app, "consumer", consumer_check, required=False)

    app = FastAPI(
        title="Alice orchestrator",
        version=APP_VERSION,
        lifespan=starting_in_background(start, settings.service_name),
    )
    install_observability(app, settings.service_name)
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)
    install_internal_api(app, settings)
    return app


def chat_requests_consumer(
    settings: Settings, handler: ChatHandler, producer: AIOKafkaProducer, deliveries: DeliveryCounter
) -> ConsumeLoop:
    """The consumer of `chat.requests`: each record decoded as a `ChatRequested` by the loop."""
    requests = topics.CHAT_REQUESTS
    return ConsumeLoop(
        settings,
        topic=requests,
        group=requests.group_of(SERVICE),
        handler=handler.handle_record,
        producer=producer,
        # Not a ChatRequested: dead-lettered at once as an `InvalidRequest`, whose reply stream
        # ends `invalid_request` (ChatHandler.on_dead_letter).
        decode_error=InvalidRequest,
        on_dead_letter=handler.on_dead_letter,
        # A request that crashes the process (the model runs native code) must not crash-loop
        # every replica: one in flight in a crash runs alone, and only one that keeps crashing
        # the process alone is set aside (docs/kafka.md).
        delivery_counter=deliveries,
        options=ConsumeOptions(
            max_concurrency=settings.chat_concurrency,
            max_attempts=settings.chat_max_attempts,
            unavailable_give_up_s=settings.chat_unavailable_give_up_s,
            max_solo_crashes=settings.chat_max_solo_crashes,
            consumer_config={
                "session_timeout_ms": settings.chat_consumer_session_timeout_ms,
                "heartbeat_interval_ms": max(1000, settings.chat_consumer_session_timeout_ms // 3),
            },
        ),
    )
