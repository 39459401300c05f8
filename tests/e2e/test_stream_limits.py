"""Reply streams held open against the real backend: a per-user cap on open streams (429
`too_many_streams`), and a connected stream whose reply key expires ends with `reply_expired`
instead of sending heartbeats forever.

The orchestrator runs the fake model with a first token a minute away, so replies stay open.
"""

import asyncio
import contextlib
import time

import httpx
import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import FAILED, STATUS, reply_key

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MAX_STREAMS = 3


@pytest.fixture(scope="module")
def stack(infra):
    with Stack(
        infra,
        isolation("streams"),
        orchestrator=dict(llm_provider="fake", llm_fake_ttft_ms=60_000),
        backend=UNTHROTTLED | {"max_streams_per_user": MAX_STREAMS, "sse_heartbeat_s": 1.0},
    ) as up:
        yield up


@contextlib.asynccontextmanager
async def open_stream(api: httpx.AsyncClient, url: str, auth: dict[str, str]):
    async with api.stream("GET", url, headers=auth, timeout=30) as response:
        lines = response.aiter_lines()  # kept: a collected line iterator closes the connection
        if response.status_code == 200:
            await anext(lines)  # the stream is relaying (its `retry:` hint)
        yield response
        await lines.aclose()


async def test_a_user_gets_at_most_the_configured_number_of_open_streams(stack):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        auth, other = await register(api, "streams"), await register(api, "streams")
        accepted = await send(api, auth, await new_conversation(api, auth), "hold on")
        url = accepted["stream_url"]
        async with contextlib.AsyncExitStack() as held:
            for _ in range(MAX_STREAMS):
                response = await held.enter_async_context(open_stream(api, url, auth))
                assert response.status_code == 200
            async with open_stream(api, url, auth) as refused:
                assert refused.status_code == 429
                assert (await refused.aread()) and refused.json()["error"]["code"] == "too_many_streams"
                assert int(refused.headers["Retry-After"]) >= 1
            # Another user's streams are not counted against this one.
            theirs = await send(api, other, await new_conversation(api, other), "mine")
            async with open_stream(api, theirs["stream_url"], other) as response:
                assert response.status_code == 200
        # Closed streams give their slots back.
        deadline = time.monotonic() + 10
        while True:
            async with open_stream(api, url, auth) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "slots were not given back after the streams closed"
            await asyncio.sleep(0.2)


async def test_a_connected_stream_whose_reply_expires_ends_with_reply_expired(stack, infra):
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as api:
        auth = await register(api, "expire")
        accepted = await send(api, auth, await new_conversation(api, auth), "never answered in time")
        redis = aioredis.from_url(infra.redis_url, decode_responses=True)

        async def expire_once_connected(event: dict) -> None:
            if event["event"] == STATUS:
                await redis.delete(reply_key(accepted["reply_id"]))  # what its TTL does

        try:
            started = time.monotonic()
            events = await sse_events(
                api, accepted["stream_url"], auth, on_event=expire_once_connected, read_timeout_s=20
            )
        finally:
            await redis.aclose()
        assert events[-1]["event"] == FAILED and events[-1]["data"]["code"] == "reply_expired", events
        assert time.monotonic() - started < 10
