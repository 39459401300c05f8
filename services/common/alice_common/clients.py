"""Client factories. Call them inside a FastAPI lifespan (or a worker's startup), never at import.

Each factory returns an unstarted/unconnected client where the library separates the two, and each
`*_check` returns a readiness check for `observability.register_check`.
"""

from urllib.parse import urlparse

import httpx
import redis.asyncio as aioredis
import weaviate
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from alice_common.settings import AliceSettings

# How long our HTTP clients keep an idle connection for reuse: well under the 5 s after which
# uvicorn (our services, `server.KEEP_ALIVE_S`) and cpp-httplib (llama-server) close one. At 5 s on
# both sides (httpx's default), a request sent as the server's timer fires is lost with the
# connection ("Server disconnected without sending a response", a 503 at the API), most easily
# on a starved server whose timer and the request's arrival fall in one turn of its event loop.
# Nothing then tells whether the server received it, so it cannot simply be retried.
IDLE_CONNECTION_S = 2.0


def http_limits(max_connections: int = 100, max_keepalive_connections: int = 20) -> httpx.Limits:
    """httpx's default limits, with idle connections dropped after `IDLE_CONNECTION_S`."""
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=IDLE_CONNECTION_S,
    )


def kafka_producer(settings: AliceSettings, **overrides) -> AIOKafkaProducer:
    """Idempotent producer with acks=all: a retried send never duplicates a record."""
    options = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        client_id=settings.service_name,
    )
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def started_kafka_producer(settings: AliceSettings) -> AIOKafkaProducer:
    """The service's producer, connected: every service starts it first and stops it last."""
    producer = kafka_producer(settings)
    try:
        await producer.start()
    except BaseException:  # Kafka not there yet: nothing half-started is left behind for a retry
        await producer.stop()
        raise
    return producer


def kafka_check(producer: AIOKafkaProducer):
    async def check() -> None:
        metadata = await producer.client.fetch_all_metadata()
        if not metadata.brokers():
            raise RuntimeError("no Kafka broker in metadata")

    return check


def mongo_client(settings: AliceSettings) -> AsyncMongoClient:
    # A socket timeout too: a hung server (not a refused connection) must fail a request within
    # seconds instead of holding it, and the caller's slot, forever.
    return AsyncMongoClient(
        settings.mongodb_url,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        socketTimeoutMS=settings.store_timeout_s * 1000,
        tz_aware=True,
    )


def mongo_check(client: AsyncMongoClient):
    async def check() -> None:
        await client.admin.command("ping")

    return check


def redis_client(settings: AliceSettings) -> aioredis.Redis:
    return aioredis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=settings.store_timeout_s,
        health_check_interval=10,
        retry=reconnect_once(),
    )


def reconnect_once() -> Retry:
    """After Redis restarts, every pooled connection is dead: without a retry each one failed
    one request (a 503) on its next use, long after Redis was back. A broken connection is
    retried once, at once, on a fresh one; a timeout is not (a hung Redis stays bounded)."""
    return Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,))


def redis_check(client: aioredis.Redis):
    async def check() -> None:
        await client.ping()

    return check


def weaviate_client(settings: AliceSettings) -> weaviate.WeaviateAsyncClient:
    """Async v4 client; `await client.connect()` before use and `await client.close()` after."""
    url = urlparse(settings.weaviate_url)
    secure = url.scheme == "https"
    auth = None
    if settings.weaviate_api_key is not None:
        auth = weaviate.auth.AuthApiKey(settings.weaviate_api_key.get_secret_value())
    return weaviate.use_async_with_custom(
        http_host=url.hostname or "127.0.0.1",
        http_port=url.port or (443 if secure else 80),
        http_secure=secure,
        grpc_host=url.hostname or "127.0.0.1",
        grpc_port=settings.weaviate_grpc_port,
        grpc_secure=secure,
        auth_credentials=auth,
        skip_init_checks=True,
    )


def weaviate_check(client: weaviate.WeaviateAsyncClient):
    async def check() -> None:
        if not client.is_connected():
            await client.connect()  # reconnects once Weaviate is back after an outage
        if not await client.is_ready():
            raise RuntimeError("Weaviate is not ready")

    return check
