"""Delete my data (issue 27, decision 0059): `DELETE /api/me` leaves nothing of the account in
MongoDB (any collection of the stack's database), Weaviate (its tenants), Redis (any key or
value) or the analytics, refuses every credential it had, and leaves another user's data as it
was. Also when the purge races a reply being generated and a document being indexed, and when a
`chat.completed` of the user arrives after the purge. Real
backend, orchestrator and dataflow over Kafka; the fake model paces its replies (~3 s).
"""

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from alice_common import clients, topics, vectorstore
from alice_common.events import ChatCompleted
from alice_common.reply_stream import TOKEN
from alice_common.settings import AliceSettings
from bson import json_util
from pymongo import AsyncMongoClient

from tests.support.stack import (
    UNTHROTTLED,
    UNTHROTTLED_SEARCH,
    UNTHROTTLED_UPLOADS,
    Stack,
    bearer,
    grant_admin,
    isolation,
    kafka_and_redis,
    new_conversation,
    send,
    sse_events,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

PACED = dict(llm_provider="fake", llm_fake_token_interval_ms=100, llm_max_tokens=30)
PASSWORD = "pw-0123456789"
NOTES = "The lighthouse keeper's logbook mentions a copper kettle and seven herring barrels.\n"


@pytest.fixture(scope="module")
def shared() -> dict[str, str]:
    return isolation("purge")


@pytest.fixture(scope="module")
def stack(infra, shared) -> Iterator[Stack]:
    backend = UNTHROTTLED | UNTHROTTLED_SEARCH | UNTHROTTLED_UPLOADS
    with Stack(infra, shared, dataflow={"ready_timeout_s": 120}, orchestrator=PACED, backend=backend) as up:
        yield up


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as client:
        yield client


class Traces:
    """Where a user id can still be found: every collection of the stack's database, the two
    Weaviate collections' tenants, and every Redis key (its name and its value)."""

    def __init__(self, infra, database: str) -> None:
        self.mongo = AsyncMongoClient(infra.mongodb_url)
        self.db = self.mongo[database]
        self.redis = aioredis.from_url(infra.redis_url, decode_responses=True)
        self.weaviate = clients.weaviate_client(
            AliceSettings(
                weaviate_url=infra.weaviate_url,
                weaviate_grpc_port=infra.weaviate_grpc_port,
                weaviate_api_key=infra.weaviate_api_key,
            )
        )

    async def __aenter__(self) -> "Traces":
        await self.weaviate.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.mongo.close()
        await self.redis.aclose()
        await self.weaviate.close()

    async def of(self, user_id: str) -> list[str]:
        found = []
        for name in await self.db.list_collection_names():
            async for doc in self.db[name].find({}):
                if user_id in json_util.dumps(doc):
                    found.append(f"mongodb {name} {doc['_id']}")
        tenant = vectorstore.tenant_name(user_id)
        for name in (vectorstore.KNOWLEDGE, vectorstore.MEMORY):
            if await self.weaviate.collections.use(name).tenants.exists(tenant):
                found.append(f"weaviate {name} tenant")
        async for key in self.redis.scan_iter(count=1000):
            if user_id in key or user_id in str(await self._value(key)):
                found.append(f"redis {key}")
        return found

    async def _value(self, key: str) -> object:
        kind = await self.redis.type(key)
        read = {
            "string": self.redis.get,
            "hash": self.redis.hgetall,
            "list": lambda k: self.redis.lrange(k, 0, -1),
            "set": self.redis.smembers,
            "zset": lambda k: self.redis.zrange(k, 0, -1),
            "stream": self.redis.xrange,
        }.get(kind)
        return await read(key) if read else None

    async def gone(self, user_id: str, bound_s: float = 90) -> None:
        deadline = time.monotonic() + bound_s
        while found := await self.of(user_id):
            assert time.monotonic() < deadline, f"still there after {bound_s} s: {found}"
            await asyncio.sleep(1)


async def sign_up(api: httpx.AsyncClient, label: str) -> dict:
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.com"
    response = await api.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    tokens = response.json()
    return {"id": tokens["user"]["id"], "email": email, "auth": bearer(tokens), "tokens": tokens}


async def reply_to(api: httpx.AsyncClient, auth: dict, conversation: str, content: str) -> str:
    accepted = await send(api, auth, conversation, content)
    events = await sse_events(api, accepted["stream_url"], auth, read_timeout_s=120)
    assert events[-1]["event"] == "done", events[-3:]
    return accepted["reply_id"]


async def searched(api: httpx.AsyncClient, auth: dict, query: str) -> set[str]:
    response = await api.get("/api/search", headers=auth, params={"q": query})
    assert response.status_code == 200, response.text
    return {hit["type"] for hit in response.json()["items"]}


async def everything_of(api: httpx.AsyncClient, user: dict) -> dict:
    """Conversations with replies and feedback, an indexed document, memory, an API key."""
    auth = user["auth"]
    conversation = await new_conversation(api, auth)
    reply = await reply_to(api, auth, conversation, "Tell me about the lighthouse.")
    await reply_to(api, auth, conversation, "And the kettle?")
    rated = await api.put(
        f"/api/conversations/{conversation}/messages/{reply}/feedback", headers=auth, json={"rating": "up"}
    )
    assert rated.status_code == 200, rated.text
    uploaded = await api.post("/api/documents", headers=auth, files={"file": ("notes.txt", NOTES.encode())})
    assert uploaded.status_code == 202, uploaded.text
    document = uploaded.json()["document"]["id"]
    key = await api.post("/api/keys", headers=auth, json={"name": "scripts"})
    assert key.status_code == 201, key.text
    preset = await api.post(
        "/api/presets", headers=auth, json={"name": "Brief", "settings": {"max_tokens": 20}}
    )
    assert preset.status_code == 201, preset.text
    deadline = time.monotonic() + 120
    while (await searched(api, auth, "lighthouse kettle herring answering")) != {"message", "document"}:
        assert time.monotonic() < deadline, "the document and the memory were never both found"
        await asyncio.sleep(1)
    return {"conversation": conversation, "document": document, "api_key": key.json()["secret"]}


async def delete_account(api: httpx.AsyncClient, user: dict) -> httpx.Response:
    return await api.request("DELETE", "/api/me", headers=user["auth"], json={"password": PASSWORD})


async def today(api: httpx.AsyncClient, admin: dict) -> dict:
    response = await api.get("/api/admin/stats", headers=admin["auth"], params={"days": 1})
    assert response.status_code == 200, response.text
    days = response.json()["days"]
    return days[-1] if days else {"active_users": 0, "replies": 0}


async def test_deleting_my_account_leaves_nothing_of_it_and_keeps_the_others(infra, shared, stack, api):
    admin = await sign_up(api, "admin")
    await asyncio.to_thread(grant_admin, stack["backend"], admin["email"])
    ann, bob = await sign_up(api, "ann"), await sign_up(api, "bob")
    anns, bobs = await everything_of(api, ann), await everything_of(api, bob)
    deadline = time.monotonic() + 60  # memory is indexed before the fact is recorded
    while (before := await today(api, admin))["replies"] < 4:
        assert time.monotonic() < deadline, before
        await asyncio.sleep(1)
    assert before["active_users"] >= 2, before

    async with Traces(infra, shared["mongodb_database"]) as traces:
        assert await traces.of(ann["id"]), "the scan finds nothing even before the deletion"
        wrong = await api.request("DELETE", "/api/me", headers=ann["auth"], json={"password": "not it"})
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"

        deleted = await delete_account(api, ann)
        assert deleted.status_code == 202, deleted.text
        assert deleted.json()["status"] == "deleting"
        # Refused at once, before the purge is done.
        assert (await api.get("/api/conversations", headers=ann["auth"])).status_code == 401
        await traces.gone(ann["id"])
        bobs_traces = await traces.of(bob["id"])

    login = await api.post("/api/auth/login", json={"email": ann["email"], "password": PASSWORD})
    assert login.status_code == 401
    refreshed = await api.post("/api/auth/refresh", json={"refresh_token": ann["tokens"]["refresh_token"]})
    assert refreshed.status_code == 401
    for token in (ann["auth"], {"Authorization": f"Bearer {anns['api_key']}"}):
        assert (await api.get("/api/conversations", headers=token)).status_code == 401
    after = await today(api, admin)
    assert after["active_users"] == before["active_users"] - 1, (before, after)
    assert after["replies"] == before["replies"] - 2, (before, after)

    # Bob's data is all there: conversation with its rated reply, document, memory, key, sign-in.
    assert any("mongodb conversations" in t for t in bobs_traces), bobs_traces
    assert any("mongodb presets" in t for t in bobs_traces), bobs_traces
    assert any("weaviate" in t for t in bobs_traces), bobs_traces
    history = await api.get(f"/api/conversations/{bobs['conversation']}/messages", headers=bob["auth"])
    messages = history.json()["items"]
    assert len(messages) == 4 and [m["feedback"]["rating"] for m in messages if m["feedback"]] == ["up"]
    document = await api.get(f"/api/documents/{bobs['document']}", headers=bob["auth"])
    assert document.json()["status"] == "indexed"
    assert await searched(api, bob["auth"], "lighthouse kettle herring answering") == {"message", "document"}
    with_key = {"Authorization": f"Bearer {bobs['api_key']}"}
    assert (await api.get("/api/conversations", headers=with_key)).status_code == 200
    login = await api.post("/api/auth/login", json={"email": bob["email"], "password": PASSWORD})
    assert login.status_code == 200


async def test_a_purge_racing_a_reply_and_an_indexing_leaves_nothing_behind(infra, shared, api):
    carl = await sign_up(api, "carl")
    auth = carl["auth"]
    await reply_to(api, auth, await new_conversation(api, auth), "A first exchange, to be remembered.")
    conversation = await new_conversation(api, auth)
    accepted = await send(api, auth, conversation, "Answer slowly while I leave.")
    # Long enough that its indexing is still running when the account goes.
    big = (NOTES * 3000).encode()
    uploaded = await api.post("/api/documents", headers=auth, files={"file": ("long.txt", big)})
    assert uploaded.status_code == 202, uploaded.text
    deleted: list[int] = []

    async def delete_on_first_token(event: dict) -> None:
        if event["event"] == TOKEN and not deleted:
            deleted.append((await delete_account(api, carl)).status_code)

    await sse_events(api, accepted["stream_url"], auth, on_event=delete_on_first_token, read_timeout_s=120)
    assert deleted == [202]
    async with Traces(infra, shared["mongodb_database"]) as traces:
        await traces.gone(carl["id"], bound_s=180)
        # Whatever was still in flight (the reply's announcement, the document's last chunks)
        # has landed by now; nothing of it may have come back.
        await asyncio.sleep(10)
        assert await traces.of(carl["id"]) == []

        # A `chat.completed` of Carl arriving only now (a consumer lagging behind) is not
        # remembered. Dave's, behind it on the same key, shows it was consumed.
        dave = await sign_up(api, "dave")
        late = [completed(carl["id"], conversation), completed(dave["id"], conversation)]
        async with kafka_and_redis(infra) as (producer, _):
            for event in late:
                await publish(producer, shared["kafka_topic_prefix"], event)
        deadline = time.monotonic() + 60
        while "message" not in await searched(api, dave["auth"], "lighthouse"):
            assert time.monotonic() < deadline, "the event behind the late one was never indexed"
            await asyncio.sleep(1)
        assert await traces.of(carl["id"]) == []


def completed(user_id: str, conversation: str) -> ChatCompleted:
    return ChatCompleted(
        conversation_id=conversation, user_id=user_id, user_message_id=uuid.uuid4().hex,
        assistant_message_id=uuid.uuid4().hex, reply_id=uuid.uuid4().hex,
        user_content="About the lighthouse.", assistant_content="The lighthouse keeper kept a log.",
    )  # fmt: skip


async def publish(producer, prefix: str, event: ChatCompleted) -> None:
    topic = topics.CHAT_COMPLETED
    await producer.send_and_wait(f"{prefix}{topic.name}", event.to_bytes(), key=topic.key_of(event).encode())
