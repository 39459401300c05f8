import httpx
import pytest
import redis.asyncio as aioredis
from alice_common.app_context import set_app_context
from alice_orchestrator.api import install_internal_api
from alice_orchestrator.app_context import AppContext
from alice_orchestrator.model_health import ModelHealth
from alice_orchestrator.providers.fake import FakeProvider
from alice_orchestrator.providers.registry import ModelRegistry, default_model
from alice_orchestrator.recent_turns import RecentTurns
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore
from fastapi import FastAPI
from pydantic import SecretStr
from pymongo import AsyncMongoClient

INTERNAL_TOKEN = "test-internal-token-long-enough-to-be-a-secret"


@pytest.fixture
async def client(infra, unique_name):
    """The orchestrator's internal API in process, over a database of its own (real MongoDB and
    Redis); `client.store` is its ChatStore, `client.ctx` its AppContext, `client.published` the
    ConversationDeleted events and `client.announced` the events an import announced
    (`client.kafka["down"] = True`: both fail; Kafka itself is covered by tests/e2e)."""
    mongo = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    db_name = unique_name("orchclient")
    store = ChatStore(mongo[db_name])
    await store.ensure_indexes()
    app = FastAPI()
    settings = Settings(alice_internal_token=SecretStr(INTERNAL_TOKEN))
    install_internal_api(app, settings)

    published: list = []
    announced: list = []
    kafka = {"down": False}

    async def publish_deleted(event) -> None:
        if kafka["down"]:
            raise ConnectionError("kafka down")
        published.append(event)

    async def announce_imported(events) -> None:
        if kafka["down"]:
            raise ConnectionError("kafka down")
        announced.extend(events)

    models = ModelRegistry(default_model(settings, FakeProvider()))
    ctx = AppContext(
        settings,
        store,
        RecentTurns(redis, store),
        models,
        publish_deleted,
        announce_imported,
        ModelHealth(settings, models),
    )
    set_app_context(app, ctx)
    headers = {"X-Internal-Token": INTERNAL_TOKEN}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orch", headers=headers
    ) as client:
        client.store, client.ctx, client.kafka = store, ctx, kafka
        client.published, client.announced = published, announced
        yield client
    await mongo.drop_database(db_name)
    await mongo.close()
    await redis.aclose()
