"""FastAPI application: lifespan-owned clients, readiness checks, routes."""

from contextlib import asynccontextmanager

from alice_common import clients
from alice_common.observability import install_observability, register_check
from fastapi import FastAPI

from alice_kafkaflow.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        producer = clients.kafka_producer(settings)
        await producer.start()
        register_check(app, "kafka", clients.kafka_check(producer))
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="Alice kafkaflow", lifespan=lifespan)
    install_observability(app, settings.service_name)
    return app
