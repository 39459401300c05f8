"""FastAPI application: lifespan-owned Kafka clients, the poller, readiness checks, routes."""

from contextlib import asynccontextmanager

from alice_common import clients
from alice_common.app_context import set_app_context
from alice_common.internal_auth import internal_token_guard
from alice_common.observability import install_observability, register_check
from fastapi import Depends, FastAPI
from prometheus_client import REGISTRY

from alice_kafkaflow.api import router
from alice_kafkaflow.app_context import AppContext
from alice_kafkaflow.collector import KafkaSnapshotCollector
from alice_kafkaflow.dlq import DlqService
from alice_kafkaflow.errors import install_error_handlers
from alice_kafkaflow.poller import KafkaPoller
from alice_kafkaflow.replay_log import ReplayLog
from alice_kafkaflow.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        producer = await clients.started_kafka_producer(settings)
        poller = KafkaPoller(settings)
        replay_log: ReplayLog | None = None
        collector = KafkaSnapshotCollector(lambda: poller.latest)
        try:
            await poller.start()
            replay_log = ReplayLog(settings, poller.admin, producer)
            await replay_log.start()
            dlq = DlqService(settings, poller.admin, poller.offsets_reader, producer, replay_log)
            set_app_context(app, AppContext(settings, poller, dlq))
            REGISTRY.register(collector)
            register_check(app, "kafka", clients.kafka_check(producer))
            register_check(app, "snapshot", _snapshot_check(poller))
            yield
        finally:
            if collector in REGISTRY._collector_to_names:
                REGISTRY.unregister(collector)
            if replay_log is not None:
                await replay_log.stop()
            await poller.stop()
            await producer.stop()

    app = FastAPI(title="Alice kafkaflow", lifespan=lifespan)
    install_observability(app, settings.service_name)
    install_error_handlers(app)
    app.include_router(router, dependencies=[Depends(internal_token_guard(settings.alice_internal_token))])
    return app


def _snapshot_check(poller: KafkaPoller):
    async def check() -> None:
        if poller.latest is None:
            raise RuntimeError(poller.last_error or "no snapshot of the cluster yet")

    return check
