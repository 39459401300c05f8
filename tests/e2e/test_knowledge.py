"""Knowledge acceptance through the public API (issue 3), against real processes and infrastructure:
backend + orchestrator (local SmolLM2) + dataflow over Kafka, Redis, MongoDB and Weaviate.

Covers: Markdown and PDF uploads moving through `processing` with rising progress to `indexed`;
a question answerable only from the PDF cites it in `sources`, the same question from another
user cites nothing of it; a corrupt PDF ends `failed` with a reason and a following document is
indexed; search finds a past message by meaning, never for another user.
"""

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import pdfmaker
from tests.support.stack import (
    UNTHROTTLED,
    UNTHROTTLED_SEARCH,
    UNTHROTTLED_UPLOADS,
    Stack,
    ask,
    isolation,
    register,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


PDF_FACTS = [
    "Varnholm island survey, 2026.",
    "The lighthouse on Varnholm island is kept by a woman named Ingrid Salo.",
    "She has tended the lamp since 1987 and records every passing ship by hand.",
]
# More pages on the same island, so the PDF takes long enough to watch it being processed.
HARBOUR_LOG = [
    [f"Varnholm harbour log, week {p}: {i} fishing boats moored, the ferry ran on time." for i in range(12)]
    for p in range(5)
]
QUESTION = "Who is the keeper of the Varnholm lighthouse?"


@pytest.fixture(scope="module")
def stack(infra) -> Iterator[str]:
    with Stack(
        infra,
        isolation("knowledge"),
        dataflow={"ready_timeout_s": 120},
        orchestrator=dict(llm_provider="local", llm_max_tokens=40, llm_temperature=0.2, ready_timeout_s=120),
        backend=UNTHROTTLED | UNTHROTTLED_UPLOADS | UNTHROTTLED_SEARCH,
    ) as up:
        yield up["backend"].url


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack, timeout=60) as client:
        yield client


async def upload(api, auth, filename: str, content_type: str, data: bytes) -> str:
    response = await api.post("/api/documents", headers=auth, files={"file": (filename, data, content_type)})
    assert response.status_code == 202, response.text
    document = response.json()["document"]
    assert document["filename"] == filename
    return document["id"]


async def watch(api, auth, document_id: str, timeout_s: float = 180) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await api.get(f"/api/documents/{document_id}", headers=auth)
        assert response.status_code == 200, response.text
        doc = response.json()
        state = {k: doc.get(k) for k in ("status", "progress", "chunks", "error")}
        if not seen or seen[-1] != state:
            seen.append(state)
        if doc["status"] in ("indexed", "failed"):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"{document_id} not done: {seen}")


def assert_indexed_with_rising_progress(states: list[dict]) -> None:
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress), states
    assert any(s["status"] == "processing" for s in states), states
    assert states[-1]["status"] == "indexed" and states[-1]["progress"] == 100 and states[-1]["chunks"] >= 1


def handbook(sections: int) -> bytes:
    body = "Brokers store partition logs on disk; operators watch lag, disk usage and replication. " * 4
    return "".join(f"## Section {i}\n\n{body}\n\n" for i in range(sections)).encode()


async def test_documents_are_indexed_and_the_pdf_is_cited(api):
    alice, bob = await register(api), await register(api)
    md_id = await upload(api, alice, "handbook.md", "text/markdown", handbook(40))
    pdf = pdfmaker.make_pdf([PDF_FACTS, *HARBOUR_LOG])
    pdf_id = await upload(api, alice, "varnholm.pdf", "application/pdf", pdf)
    md_states, pdf_states = await asyncio.gather(watch(api, alice, md_id), watch(api, alice, pdf_id))
    assert_indexed_with_rising_progress(md_states)
    assert_indexed_with_rising_progress(pdf_states)
    listed = (await api.get("/api/documents", headers=alice)).json()["items"]
    assert {d["id"] for d in listed} == {md_id, pdf_id}
    assert (await api.get(f"/api/documents/{pdf_id}", headers=bob)).status_code == 404

    reply = (await ask(api, alice, QUESTION))["message"]
    cited = [s for s in reply["sources"] if s["document_id"] == pdf_id]
    assert cited and all(s["filename"] == "varnholm.pdf" for s in cited), reply["sources"]
    assert any("Ingrid Salo" in s["snippet"] for s in cited), cited

    other = (await ask(api, bob, QUESTION))["message"]
    assert all(s.get("document_id") not in (pdf_id, md_id) for s in other["sources"]), other["sources"]


async def test_corrupt_pdf_fails_and_the_next_document_is_indexed(api):
    auth = await register(api)
    bad = await upload(api, auth, "broken.pdf", "application/pdf", pdfmaker.corrupt_pdf())
    good = await upload(api, auth, "after.md", "text/markdown", b"# After\n\nThis one is fine.")
    failed = (await watch(api, auth, bad))[-1]
    assert failed["status"] == "failed" and "corrupt" in failed["error"]
    assert (await watch(api, auth, good))[-1]["status"] == "indexed"


async def test_search_finds_a_past_message_by_meaning_only_for_its_owner(api):
    alice, bob = await register(api), await register(api)
    said = "My dog Rex loves chasing squirrels around the park."
    asked = await ask(api, alice, said)
    await ask(api, bob, "I need to renew my passport before travelling.")
    query = "puppy hunting rodents outdoors"
    assert not set(query.split()) & set(said.lower().rstrip(".").split())
    deadline = time.monotonic() + 60
    hits: list[dict] = []
    while time.monotonic() < deadline:
        response = await api.get("/api/search", headers=alice, params={"q": query})
        assert response.status_code == 200, response.text
        hits = response.json()["items"]
        if any(h.get("conversation_id") == asked["conversation"] for h in hits):
            break
        await asyncio.sleep(0.5)
    assert hits and hits[0]["conversation_id"] == asked["conversation"], hits
    assert "Rex" in hits[0]["snippet"]
    bob_hits = (await api.get("/api/search", headers=bob, params={"q": query})).json()["items"]
    assert all(h.get("conversation_id") != asked["conversation"] for h in bob_hits)
    assert all("Rex" not in h["snippet"] for h in bob_hits)
