"""Deleting a conversation through the public API also removes it from search (and so from
memory retrieval): backend → orchestrator → `conversations.deleted` → dataflow → Weaviate,
against real processes and infrastructure with the local model.
"""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.stack import UNTHROTTLED, UNTHROTTLED_SEARCH, Stack, ask, isolation, register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

SAID = "My grandmother's cottage in Tromsø has a bright red door."
QUERY = "grandmother cottage Tromsø red door"


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    with Stack(
        infra,
        isolation("convdel"),
        dataflow={"ready_timeout_s": 120},
        orchestrator=dict(llm_provider="local", llm_max_tokens=24, llm_temperature=0.2, ready_timeout_s=120),
        backend=UNTHROTTLED | UNTHROTTLED_SEARCH,
    ) as up:
        yield up["backend"].url


async def say(api, auth, content: str) -> str:
    """Asks in a new conversation; returns its id once the reply is complete."""
    asked = await ask(api, auth, content)
    assert asked["message"]["status"] == "completed", asked["message"]
    return asked["conversation"]


async def search_until(api, auth, predicate, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await api.get("/api/search", headers=auth, params={"q": QUERY})
        assert response.status_code == 200, response.text
        hits = response.json()["items"]
        if predicate(hits) or time.monotonic() > deadline:
            return hits
        await asyncio.sleep(0.5)


async def test_deleted_conversation_disappears_from_search(stack):
    async with httpx.AsyncClient(base_url=stack, timeout=60) as api:
        auth = await register(api)
        conversation = await say(api, auth, SAID)

        def found(hits: list[dict]) -> bool:
            return any(h.get("conversation_id") == conversation for h in hits)

        hits = await search_until(api, auth, found)
        assert found(hits) and any("red door" in h["snippet"] for h in hits), hits

        deleted = await api.delete(f"/api/conversations/{conversation}", headers=auth)
        assert deleted.status_code == 204, deleted.text
        assert (await api.get(f"/api/conversations/{conversation}", headers=auth)).status_code == 404
        hits = await search_until(api, auth, lambda hits: not found(hits), timeout_s=30)
        assert not found(hits), hits
        assert all("red door" not in h["snippet"] for h in hits), hits
