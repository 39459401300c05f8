"""FastAPI application: lifespan-owned clients, the four consumers, readiness checks, routes."""

import asyncio
import logging

from alice_common import clients, topics, vectorstore
from alice_common.app_context import set_app_context
from alice_common.embeddings import BatchingEmbedder, get_embedder
from alice_common.host_check import AllowedHostsMiddleware
from alice_common.internal_auth import internal_token_guard
from alice_common.kafka import ConsumeLoop, ConsumeOptions, ensure_topics
from alice_common.kafka.deliveries import COLLECTION as DELIVERIES
from alice_common.kafka.deliveries import MongoDeliveryCounter
from alice_common.observability import install_observability, register_check
from alice_common.startup import Startup, starting_in_background
from alice_common.version import APP_VERSION
from fastapi import Depends, FastAPI
from gridfs import AsyncGridFSBucket

from alice_dataflow import embeddings_api
from alice_dataflow.analytics import Analytics
from alice_dataflow.api import router
from alice_dataflow.app_context import AppContext
from alice_dataflow.deletions import ConversationDeletions
from alice_dataflow.documents import DocumentStore
from alice_dataflow.errors import install_error_handlers
from alice_dataflow.ingest import Ingestor
from alice_dataflow.memory import MemoryIndexer
from alice_dataflow.settings import Settings
from alice_dataflow.user_deletions import UserDeletions

log = logging.getLogger(__name__)

SERVICE = "dataflow"  # its name in alice_common.topics, which names its consumer groups


def _consumers_check(loops: list[ConsumeLoop]):
    async def check() -> None:
        waiting = [loop.topic for loop in loops if not loop.assigned]
        if waiting:
            raise RuntimeError(f"no partitions assigned yet for {', '.join(waiting)}")

    return check


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start(app: FastAPI, startup: Startup) -> None:
        # Loading the model takes a second of CPU: off the event loop, and before any consumer.
        embedder = await asyncio.to_thread(get_embedder, settings)
        batcher = BatchingEmbedder(embedder, max_batch=settings.embeddings_batch_size)
        startup.on_stop(batcher.aclose)
        # Each store may still be coming up: every step that needs one waits for it
        # (alice_common.startup).
        producer = await startup.retry("kafka producer", clients.started_kafka_producer, settings)
        startup.on_stop(producer.stop)
        # Only MongoDB is required: the internal API (documents; search degrades to 503 without
        # Weaviate) is what the Service routes here, and consumers need no Service.
        register_check(app, "kafka", clients.kafka_check(producer), required=False)
        mongo = clients.mongo_client(settings)
        startup.on_stop(mongo.close)
        register_check(app, "mongodb", clients.mongo_check(mongo))
        db = mongo[settings.mongodb_database]
        weaviate = clients.weaviate_client(settings)
        startup.on_stop(weaviate.close)

        async def connect_weaviate() -> None:
            if not weaviate.is_connected():
                await weaviate.connect()
            await vectorstore.ensure_collections(weaviate)

        await startup.retry("weaviate", connect_weaviate)
        register_check(app, "weaviate", clients.weaviate_check(weaviate), required=False)
        store = DocumentStore(db)
        analytics = Analytics(db)

        async def ensure_indexes() -> None:
            await store.ensure_indexes()
            await analytics.ensure_indexes()

        await startup.retry("mongodb indexes", ensure_indexes)
        uploads = AsyncGridFSBucket(db, "uploads")
        deletions = ConversationDeletions(db, weaviate, store, uploads)
        set_app_context(app, AppContext(store, analytics, weaviate, batcher, deletions))
        await startup.retry("kafka topics", ensure_topics, settings, topics.used_by(SERVICE))
        ingestor = Ingestor(settings, store, uploads, weaviate, batcher, producer)
        indexer = MemoryIndexer(weaviate, batcher, analytics, deletions)
        users_deleted = UserDeletions(db, weaviate, store, uploads, deletions, analytics)

        def tuned(concurrency: int, **tuning) -> ConsumeOptions:
            return ConsumeOptions(
                max_concurrency=concurrency, max_attempts=settings.consumer_max_attempts, **tuning
            )

        def consume(topic: topics.Topic, handler, options: ConsumeOptions, **kwargs) -> ConsumeLoop:
            group = topic.group_of(SERVICE)
            return ConsumeLoop(settings, topic, group, handler, producer, options=options, **kwargs)

        deliveries = MongoDeliveryCounter(db[DELIVERIES])
        loops = [
            consume(
                topics.DOCUMENTS_UPLOADED,
                users_deleted.purging_late_writes(ingestor.handle),
                # Most of them wait in the ingestor's fair line.
                tuned(settings.documents_in_flight, max_solo_crashes=settings.max_solo_crashes),
                on_dead_letter=ingestor.on_dead_letter,
                # Documents are the heavy, hostile input: count their deliveries durably so
                # one that kills the process is set aside instead of crash-looping it.
                delivery_counter=deliveries,
            ),
            consume(
                topics.CHAT_COMPLETED,
                users_deleted.purging_late_writes(indexer.handle),
                tuned(settings.chat_concurrency, max_solo_crashes=settings.max_solo_crashes),
                # Memory runs the same native embedding in this process: a turn that kills it
                # must not crash-loop the documents beside it either.
                delivery_counter=deliveries,
            ),
            consume(topics.CONVERSATIONS_DELETED, deletions.handle, tuned(4)),
            consume(topics.USERS_DELETED, users_deleted.handle, tuned(2)),
        ]
        # Producer first, consumers after (docs/contracts.md, "Conventions"); at shutdown the
        # consumers stop before the producer (their in-flight work may still publish).
        for loop in loops:
            await startup.retry(f"{loop.topic} consumer", loop.start)
            startup.on_stop(loop.stop)
        register_check(app, "consumers", _consumers_check(loops), required=False)

    app = FastAPI(
        title="Alice dataflow",
        version=APP_VERSION,
        lifespan=starting_in_background(start, settings.service_name),
    )
    install_observability(app, settings.service_name)
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)
    install_error_handlers(app)
    guard = internal_token_guard(settings.alice_internal_token)
    app.include_router(router, dependencies=[Depends(guard)])
    app.include_router(embeddings_api.router, dependencies=[Depends(guard)])
    return app
