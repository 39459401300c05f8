"""Shared links through the public API (issue 27), against real processes and infrastructure:
backend (two replicas) + orchestrator (its `fake` model) over Kafka, Redis and MongoDB.

Covers: a link read without an account shows the conversation as it was when shared (later
messages are not in it) and nothing of the account; another user can neither list, make nor
revoke links on it; a revoked link answers 404 on both replicas at once; deleting the
conversation ends its links.
"""

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest
from alice_common.reply_stream import DONE

from tests.support.stack import UNTHROTTLED, Stack, isolation, new_conversation, register, send, sse_events

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

READS = {"shared_read_rate_per_ip_capacity": 1000, "shared_read_rate_per_ip_per_s": 1000}


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    with Stack(
        infra, isolation("share"), orchestrator={"llm_provider": "fake"}, backend=UNTHROTTLED | READS
    ) as up:
        yield up


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=60) as client:
        yield client


@pytest.fixture
async def replica(second_backend) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=second_backend.url, timeout=60) as client:
        yield client


async def ask(api, auth, chat: str, content: str) -> None:
    accepted = await send(api, auth, chat, content)
    assert (await sse_events(api, accepted["stream_url"], auth))[-1]["event"] == DONE


async def messages_of(api, auth, chat: str) -> list[dict]:
    page = await api.get(f"/api/conversations/{chat}/messages", headers=auth, params={"limit": 200})
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def test_a_link_shows_the_conversation_as_it_was_to_anyone_until_it_is_revoked(api, replica):
    ann, bob = await register(api), await register(api)
    me = (await api.get("/api/me", headers=ann)).json()
    chat = await new_conversation(api, ann)
    await ask(api, ann, chat, "Name one colour of the rainbow.")
    before = await messages_of(api, ann, chat)
    assert [m["role"] for m in before] == ["user", "assistant"]

    created = await api.post(f"/api/conversations/{chat}/shares", headers=ann)
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["url_path"] == f"/s/{link['token']}" and link["message_count"] == 2

    await ask(api, ann, chat, "And another one?")  # after the link was made
    assert len(await messages_of(api, ann, chat)) == 4

    for client in (api, replica):
        read = await client.get(f"/api/shared/{link['token']}")  # no Authorization
        assert read.status_code == 200, read.text
        shared = read.json()
        assert [(m["role"], m["content"], m["created_at"]) for m in shared["messages"]] == [
            (m["role"], m["content"], m["created_at"]) for m in before
        ]
        assert "And another one?" not in read.text
        for private in (me["id"], me["email"], chat, before[0]["id"], before[1]["id"]):
            assert private not in read.text, private
        assert read.headers["cache-control"] == "no-store"

    listed = await api.get(f"/api/conversations/{chat}/shares", headers=ann)
    assert [s["id"] for s in listed.json()["items"]] == [link["id"]] and link["token"] not in listed.text
    for method, path in (
        ("GET", f"/api/conversations/{chat}/shares"),
        ("POST", f"/api/conversations/{chat}/shares"),
        ("DELETE", f"/api/shares/{link['id']}"),
    ):
        stolen = await api.request(method, path, headers=bob)
        assert stolen.status_code == 404, (method, path, stolen.text)
    assert (await api.get(f"/api/shared/{link['token']}")).status_code == 200, "Bob revoked nothing"
    guessed = await api.get(f"/api/shared/{secrets.token_urlsafe(32)}")
    assert (guessed.status_code, guessed.json()["error"]["code"]) == (404, "share_not_found")

    revoked = await api.delete(f"/api/shares/{link['id']}", headers=ann)
    assert revoked.status_code == 204
    gone = await asyncio.gather(*(c.get(f"/api/shared/{link['token']}") for c in (api, replica)))
    assert [r.status_code for r in gone] == [404, 404], "revoked at once on both replicas"
    assert gone[1].json() == {
        "error": {"code": "share_not_found", "message": "this link was revoked or does not exist"}
    }
    assert (await api.get(f"/api/conversations/{chat}/shares", headers=ann)).json()["items"] == []


async def test_deleting_the_conversation_ends_its_links(api, replica):
    ann = await register(api)
    chat = await new_conversation(api, ann)
    await ask(api, ann, chat, "Hello?")
    tokens = [
        (await api.post(f"/api/conversations/{chat}/shares", headers=ann)).json()["token"] for _ in range(2)
    ]
    assert {(await replica.get(f"/api/shared/{t}")).status_code for t in tokens} == {200}
    assert (await api.delete(f"/api/conversations/{chat}", headers=ann)).status_code == 204
    assert {(await replica.get(f"/api/shared/{t}")).status_code for t in tokens} == {404}
    assert (await api.get(f"/api/conversations/{chat}/shares", headers=ann)).status_code == 404
