"""Deleting a conversation through the public API also removes it from search (and so from
memory retrieval): backend → orchestrator → `conversations.deleted` → dataflow → Weaviate,
against real processes and infrastructure with the local model.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from devstack.testing import ServiceProcess, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

SAID = "My grandmother's cottage in Tromsø has a bright red door."
QUERY = "grandmother cottage Tromsø red door"


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    isolation = {
        "mongodb_database": f"e2e_convdel_{uuid.uuid4().hex[:8]}",
        "kafka_topic_prefix": f"e2e-convdel-{uuid.uuid4().hex[:8]}.",
    }
    dataflow = ServiceProcess("dataflow", service_env(infra, **isolation), ready_timeout_s=120)
    orchestrator = ServiceProcess(
        "orchestrator",
        service_env(infra, **isolation, llm_provider="local", llm_max_tokens=24, llm_temperature=0.2),
        ready_timeout_s=120,
    )
    backend = ServiceProcess(
        "backend",
        service_env(
            infra,
            **isolation,
            orchestrator_url=orchestrator.url,
            dataflow_url=dataflow.url,
            # Redis (and so the per-IP buckets) is shared with other test runs: refill at once.
            register_rate_per_ip_capacity=1000,
            register_rate_per_ip_per_s=1000,
        ),
    )
    try:
        dataflow.start()
        orchestrator.start()
        backend.start()
        yield backend.url
    finally:
        backend.stop()
        orchestrator.stop()
        dataflow.stop()


async def register(api) -> dict[str, str]:
    response = await api.post(
        "/api/auth/register",
        json={"email": f"e2e-{uuid.uuid4().hex[:10]}@example.com", "password": "pw-" + "x" * 10},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def say(api, auth, content: str) -> str:
    response = await api.post("/api/conversations", headers=auth, json={})
    assert response.status_code == 201, response.text
    conversation = response.json()["id"]
    response = await api.post(
        f"/api/conversations/{conversation}/messages", headers=auth, json={"content": content}
    )
    assert response.status_code == 202, response.text
    event = None
    async with api.stream("GET", response.json()["stream_url"], headers=auth, timeout=300) as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                assert event != "error", line
                if event == "done":
                    assert json.loads(line.split(":", 1)[1])["message"]["status"] == "completed"
                    return conversation
    raise AssertionError("stream ended without done")


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
