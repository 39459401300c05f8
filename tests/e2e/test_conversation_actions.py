"""Pin, archive and feedback through the public API (issue 27), against real processes and
infrastructure: backend + orchestrator (local SmolLM2 model) over Kafka, Redis and MongoDB.

Covers: the list's order (pinned first) and its pages on the real store, archived conversations
listed apart, a rating on a real reply (replaced, shown in the history, cleared), another user's
404s, and the admin statistics.
"""

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from alice_common.reply_stream import DONE

from tests.support.stack import (
    UNTHROTTLED,
    Stack,
    bearer,
    grant_admin,
    isolation,
    new_conversation,
    register,
    send,
    sse_events,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[Stack]:
    orchestrator = dict(llm_provider="local", llm_max_tokens=40, llm_temperature=0.2, ready_timeout_s=120)
    with Stack(infra, isolation("actions"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        yield up


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack["backend"].url, timeout=30) as client:
        yield client


async def listed(api, auth, **params) -> list[str]:
    """Every page of the caller's list, following `next_before`."""
    ids, before = [], None
    while True:
        query = params | ({"before": before} if before else {})
        response = await api.get("/api/conversations", headers=auth, params=query)
        assert response.status_code == 200, response.text
        ids += [c["id"] for c in response.json()["items"]]
        before = response.json()["next_before"]
        if before is None:
            return ids


async def patch(api, auth, conversation: str, body: dict) -> httpx.Response:
    return await api.patch(f"/api/conversations/{conversation}", headers=auth, json=body)


async def test_pinned_first_archived_apart_and_pages_across_the_groups(api):
    ann, bob = await register(api), await register(api)
    c = []
    for i in range(5):  # each one updated after the one before: c[4] is the most recent
        c.append(await new_conversation(api, ann))
        assert (await patch(api, ann, c[-1], {"title": f"chat {i}"})).status_code == 200
    assert (await patch(api, ann, c[1], {"pinned": True})).json()["pinned"] is True
    assert (await patch(api, ann, c[3], {"pinned": True})).status_code == 200
    assert (await patch(api, ann, c[2], {"archived": True})).json()["archived"] is True

    for limit in (1, 2, 50):
        assert await listed(api, ann, limit=limit) == [c[3], c[1], c[4], c[0]], limit
    assert await listed(api, ann, archived="true") == [c[2]]
    assert (await api.get(f"/api/conversations/{c[2]}", headers=ann)).status_code == 200

    for body in ({"pinned": False}, {"archived": False}, {"title": "mine now"}):
        assert (await patch(api, bob, c[1], body)).status_code == 404, body
    assert await listed(api, bob) == [] and await listed(api, bob, archived="true") == []
    assert (await patch(api, ann, c[1], {})).status_code == 422
    assert await listed(api, ann) == [c[3], c[1], c[4], c[0]], "unchanged by Bob"


async def reply_in_history(api, auth, conversation: str, reply_id: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        items = (await api.get(f"/api/conversations/{conversation}/messages", headers=auth)).json()["items"]
        found = [m for m in items if m["id"] == reply_id]
        if found or time.monotonic() > deadline:
            assert found, "the reply was stored"
            return found[0]
        await asyncio.sleep(0.2)


async def test_a_reply_is_rated_by_its_owner_only_and_admins_see_the_share(api, stack):
    ann, bob = await register(api), await register(api)
    conversation = await new_conversation(api, ann)
    accepted = await send(api, ann, conversation, "Name one colour of the rainbow.")
    assert (await sse_events(api, accepted["stream_url"], ann))[-1]["event"] == DONE
    reply = accepted["reply_id"]
    assert (await reply_in_history(api, ann, conversation, reply))["feedback"] is None
    url = f"/api/conversations/{conversation}/messages/{reply}/feedback"
    comment = f"too short {uuid.uuid4().hex[:8]}"

    up = await api.put(url, headers=ann, json={"rating": "up"})
    assert up.status_code == 200 and up.json()["rating"] == "up"
    down = await api.put(url, headers=ann, json={"rating": "down", "comment": comment})
    assert (down.json()["rating"], down.json()["comment"]) == ("down", comment)
    assert (await api.put(url, headers=ann, json={"rating": "down", "comment": comment})).status_code == 200
    shown = (await reply_in_history(api, ann, conversation, reply))["feedback"]
    assert (shown["rating"], shown["comment"]) == ("down", comment)

    too_long = await api.put(url, headers=ann, json={"rating": "up", "comment": "x" * 2001})
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (422, "validation_error")
    question = f"/api/conversations/{conversation}/messages/{accepted['message']['id']}/feedback"
    assert (await api.put(question, headers=ann, json={"rating": "up"})).status_code == 404
    for method in ("PUT", "DELETE"):
        stolen = await api.request(method, url, headers=bob, json={"rating": "up"})
        assert stolen.status_code == 404, method
    bobs = await new_conversation(api, bob)
    through_own = f"/api/conversations/{bobs}/messages/{reply}/feedback"
    assert (await api.put(through_own, headers=bob, json={"rating": "up"})).status_code == 404
    assert (await reply_in_history(api, ann, conversation, reply))["feedback"]["rating"] == "down"

    assert (await api.get("/api/admin/feedback", headers=ann)).status_code == 403
    admin_credentials = {"email": f"admin-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-0123456789"}
    assert (await api.post("/api/auth/register", json=admin_credentials)).status_code == 201
    grant_admin(stack["backend"], admin_credentials["email"])
    admin = bearer((await api.post("/api/auth/login", json=admin_credentials)).json())
    stats = (await api.get("/api/admin/feedback", headers=admin)).json()
    assert any(m["down"] >= 1 and 0 <= m["up_share"] < 1 for m in stats["models"]), stats
    assert comment in [c["comment"] for c in stats["latest_comments"]]

    assert (await api.delete(url, headers=ann)).status_code == 204
    assert (await reply_in_history(api, ann, conversation, reply))["feedback"] is None
