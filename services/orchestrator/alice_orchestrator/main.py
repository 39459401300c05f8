"""FastAPI application: lifespan-owned clients, readiness checks, routes."""

from contextlib import asynccontextmanager

from alice_common import clients
from alice_common.observability import install_observability, register_check
from fastapi import FastAPI

from alice_orchestrator.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        producer = clients.kafka_producer(settings)
        await producer.start()
        register_check(app, "kafka", clients.kafka_check(producer))
        redis = clients.redis_client(settings)
        register_check(app, "redis", clients.redis_check(redis))
        mongo = clients.mongo_client(settings)
        register_check(app, "mongodb", clients.mongo_check(mongo))
        weaviate = clients.weaviate_client(settings)
        await weaviate.connect()
        register_check(app, "weaviate", clients.weaviate_check(weaviate))
        try:
            yield
        finally:
            await producer.stop()
            await redis.aclose()
            mongo.close()
            await weaviate.close()

    app = FastAPI(title="Alice orchestrator", lifespan=lifespan)
    install_observability(app, settings.service_name)
    return app
