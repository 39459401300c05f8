"""Importing the same export again, or twice at once, stores it once, and search finds what was
imported (docs/decisions/0060-idempotent-import.md): backend → orchestrator (MongoDB) →
`chat.completed` → dataflow → Weaviate, against real processes and infrastructure.
"""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.stack import UNTHROTTLED, UNTHROTTLED_SEARCH, Stack, isolation, register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

SAID = "Our quokka Bartholomew guards the lighthouse on Rottnest every windy night."
REPLY = "Bartholomew sounds like a very dedicated lighthouse keeper."
QUERY = "quokka Bartholomew Rottnest lighthouse"
WHEN = "2026-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    with Stack(
        infra,
        isolation("importonce"),
        dataflow={"ready_timeout_s": 120},
        orchestrator={"llm_provider": "fake"},
        backend=UNTHROTTLED | UNTHROTTLED_SEARCH,
    ) as up:
        yield up["backend"].url


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack, timeout=60) as client:
        yield client


def export_file(conversation_id: str = "0123456789abcdef0123456789abcdef") -> dict:
    """What Alice's JSON export writes for one conversation of another account."""
    messages = [
        {"id": "a" * 32, "role": "user", "content": SAID, "status": "completed", "created_at": WHEN},
        {"id": "b" * 32, "role": "assistant", "content": REPLY, "status": "completed", "created_at": WHEN,
         "model": "smollm2"},
    ]  # fmt: skip
    conversation = {"id": conversation_id, "title": "Rottnest", "pinned": False, "archived": False}
    conversation |= {"created_at": WHEN, "updated_at": WHEN, "messages": messages}
    return {
        "format": "alice.conversations",
        "version": 1,
        "exported_at": WHEN,
        "conversations": [conversation],
    }


async def listed(api, auth) -> list[str]:
    page = await api.get("/api/conversations", headers=auth, params={"limit": 200})
    assert page.status_code == 200, page.text
    return [c["id"] for c in page.json()["items"]]


async def imported(api, auth, body: dict) -> dict:
    response = await api.post("/api/conversations/import", headers=auth, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def found_in(api, auth, timeout_s: float = 90) -> set[str]:
    """The conversations of the message hits for QUERY, once there are any (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get("/api/search", headers=auth, params={"q": QUERY})
        assert response.status_code == 200, response.text
        hits = [h for h in response.json()["items"] if h["type"] == "message"]
        if hits or time.monotonic() > deadline:
            return {h["conversation_id"] for h in hits if "Bartholomew" in h["snippet"]}
        await asyncio.sleep(0.5)


async def test_importing_the_same_export_again_stores_it_once(api):
    ann = await register(api)
    first = await imported(api, ann, export_file())
    (copy,) = [c["id"] for c in first["conversations"]]
    assert first["already_present"] == []

    again = await imported(api, ann, export_file())
    assert again["conversations"] == [] and [c["id"] for c in again["already_present"]] == [copy]
    other = await imported(api, ann, export_file("fedcba9876543210fedcba9876543210"))
    assert len(other["conversations"]) == 1, "another exported conversation is another copy"
    assert sorted(await listed(api, ann)) == sorted([copy, other["conversations"][0]["id"]])


async def test_an_imported_message_is_found_by_search(api):
    dora = await register(api)
    (copy,) = [c["id"] for c in (await imported(api, dora, export_file()))["conversations"]]
    assert await found_in(api, dora) == {copy}


async def test_two_imports_of_the_same_export_at_once_store_it_once(api):
    bob, carl = await register(api), await register(api)
    answers = await asyncio.gather(*[imported(api, bob, export_file()) for _ in range(2)])
    created = [c["id"] for answer in answers for c in answer["conversations"]]
    present = [c["id"] for answer in answers for c in answer["already_present"]]
    assert len(created) == 1 and present == created, answers
    assert await listed(api, bob) == created
    messages = await api.get(f"/api/conversations/{created[0]}/messages", headers=bob)
    assert [m["content"] for m in messages.json()["items"]] == [SAID, REPLY]

    assert await found_in(api, bob) == set(created)
    assert await listed(api, carl) == [] and await found_in(api, carl, timeout_s=2) == set(), "Bob's alone"
