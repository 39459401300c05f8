"""FastAPI application: lifespan-owned Kafka clients, the poller, readiness checks, routes."""

from alice_common import clients
from alice_common.app_context import set_app_context
from alice_common.host_check import AllowedHostsMiddleware
from alice_common.internal_auth import internal_token_guard
from alice_common.observability import install_observability, register_check
from alice_common.startup import Startup, starting_in_background
from alice_common.version import APP_VERSION
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

    async def start(app: FastAPI, startup: Startup) -> None:
        # Kafka may still be coming up: every step that needs it waits (alice_common.startup).
        producer = await startup.retry("kafka producer", clients.started_kafka_producer, settings)
        startup.on_stop(producer.stop)
        poller = KafkaPoller(settings)
        await startup.retry("kafka admin", _started, poller)
        startup.on_stop(poller.stop)
        replay_log = ReplayLog(settings, poller.admin, producer)
        await startup.retry("kafka replay log", _started, replay_log)
        startup.on_stop(replay_log.stop)
        dlq = DlqService(settings, poller.admin, poller.offsets_reader, producer, replay_log)
        set_app_context(app, AppContext(settings, poller, dlq))
        collector = KafkaSnapshotCollector(lambda: poller.latest)
        REGISTRY.register(collector)

        async def unregister() -> None:
            REGISTRY.unregister(collector)

        startup.on_stop(unregister)
        register_check(app, "kafka", clients.kafka_check(producer))
        register_check(app, "snapshot", _snapshot_check(poller))

    app = FastAPI(
        title="Alice kafkaflow",
        version=APP_VERSION,
        lifespan=starting_in_background(start, settings.service_name),
    )
    install_observability(app, settings.service_name)
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.allowed_hosts)
    install_error_handlers(app)
    app.include_router(router, dependencies=[Depends(internal_token_guard(settings.alice_internal_token))])
    return app


def _snapshot_check(poller: KafkaPoller):
    async def check() -> None:
        if poller.latest is None:
            raise RuntimeError(poller.last_error or "no snapshot of the cluster yet")

    return check


async def _started(part: KafkaPoller | ReplayLog) -> None:
    """`part.start()`, and on failure `part.stop()`, so a retry starts from nothing."""
    try:
        await part.start()
    except BaseException:
        await part.stop()
        raise
