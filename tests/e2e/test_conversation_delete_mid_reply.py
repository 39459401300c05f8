"""Deleting a conversation while its reply streams leaves nothing of it behind: no message, no
context cache, no memory entry; the stream ends with `conversation_not_found` and keeps only its
TTL. Real backend, orchestrator and dataflow; the fake model paces the reply (~3 s), since the
timing, not the text, is under test. A conversation kept beside it shows that its reply would
have been stored and found by search."""

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aioredis
from alice_common.reply_stream import FAILED, TOKEN, reply_key
from alice_orchestrator.recent_turns import ctx_key
from pymongo import AsyncMongoClient

from tests.support.stack import (
    UNTHROTTLED,
    UNTHROTTLED_SEARCH,
    Stack,
    ask,
    isolation,
    new_conversation,
    register,
    send,
    sse_events,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

PACED = dict(llm_provider="fake", llm_fake_token_interval_ms=100, llm_max_tokens=30)
QUERY = "answering"  # a word of the fake model's reply


async def search(api: httpx.AsyncClient, auth: dict[str, str]) -> set[str]:
    response = await api.get("/api/search", headers=auth, params={"q": QUERY})
    assert response.status_code == 200, response.text
    return {hit.get("conversation_id") for hit in response.json()["items"]}


async def test_deleting_a_conversation_mid_reply_leaves_nothing_behind(infra):
    shared = isolation("middelete")
    backend = UNTHROTTLED | UNTHROTTLED_SEARCH
    with Stack(infra, shared, dataflow={"ready_timeout_s": 120}, orchestrator=PACED, backend=backend) as up:
        async with httpx.AsyncClient(base_url=up["backend"].url, timeout=60) as api:
            auth = await register(api)
            kept = (await ask(api, auth, "Keep this conversation."))["conversation"]
            doomed = await new_conversation(api, auth)
            accepted = await send(api, auth, doomed, "Delete me while you answer.")
            deleted: list[int] = []

            async def delete_on_first_token(event: dict) -> None:
                if event["event"] == TOKEN and not deleted:
                    response = await api.delete(f"/api/conversations/{doomed}", headers=auth)
                    deleted.append(response.status_code)

            events = await sse_events(api, accepted["stream_url"], auth, on_event=delete_on_first_token)
            assert deleted == [204]
            assert events[-1]["event"] == FAILED, [e["event"] for e in events]
            assert events[-1]["data"]["code"] == "conversation_not_found"
            assert (await api.get(f"/api/conversations/{doomed}", headers=auth)).status_code == 404

            mongo = AsyncMongoClient(infra.mongodb_url)
            redis = aioredis.from_url(infra.redis_url, decode_responses=True)
            try:
                messages = mongo[shared["mongodb_database"]]["messages"]
                assert await messages.count_documents({"conversation_id": doomed}) == 0
                assert await messages.count_documents({"conversation_id": kept}) == 2
                assert not await redis.exists(ctx_key(doomed))
                assert await redis.ttl(reply_key(accepted["reply_id"])) > 0
            finally:
                await mongo.close()
                await redis.aclose()

            deadline = time.monotonic() + 60
            while kept not in (found := await search(api, auth)):
                assert time.monotonic() < deadline, f"the kept reply was never indexed: {found}"
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # a late announcement of the deleted reply would be indexed by now
            assert doomed not in await search(api, auth)
