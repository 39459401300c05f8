"""Attachments (issue 27) against the real stack: a file attached in one conversation is indexed,
cited in that conversation's answer, unused in the user's other conversations and invisible to other
users; added to the library it serves every conversation; deleting the conversation deletes it.
"""

import asyncio

import httpx
import pytest

from tests.e2e.test_knowledge import PDF_FACTS, QUESTION, assert_indexed_with_rising_progress, watch
from tests.e2e.test_knowledge import stack as stack
from tests.support import pdfmaker
from tests.support.stack import ask, new_conversation, read_until_done, register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
async def api(stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack, timeout=60) as client:
        yield client


async def attach(api, auth, conversation_id: str) -> str:
    pdf = pdfmaker.make_pdf([PDF_FACTS])
    response = await api.post(
        "/api/documents",
        headers=auth,
        data={"conversation_id": conversation_id},
        files={"file": ("varnholm.pdf", pdf, "application/pdf")},
    )
    assert response.status_code == 202, response.text
    document = response.json()["document"]
    assert document["conversation_id"] == conversation_id
    return document["id"]


async def answer(api, auth, conversation_id: str, attachments: list[str] | None = None) -> dict:
    body = {"content": QUESTION, "attachments": attachments or []}
    response = await api.post(f"/api/conversations/{conversation_id}/messages", headers=auth, json=body)
    assert response.status_code == 202, response.text
    return await read_until_done(api, auth, response.json()["stream_url"])


def cites(message: dict, document_id: str) -> bool:
    return any(s.get("document_id") == document_id for s in message["sources"])


async def test_an_attachment_is_cited_only_in_its_conversation(api):
    alice, bob = await register(api), await register(api)
    conversation = await new_conversation(api, alice)
    document_id = await attach(api, alice, conversation)
    assert_indexed_with_rising_progress(await watch(api, alice, document_id))

    reply = await answer(api, alice, conversation, [document_id])
    stored = (await api.get(f"/api/conversations/{conversation}/messages", headers=alice)).json()["items"]
    asked = next(m for m in stored if m["role"] == "user")
    assert asked["attachments"] == [{"document_id": document_id, "filename": "varnholm.pdf"}], asked
    cited = [s for s in reply["sources"] if s["document_id"] == document_id]
    assert cited and all(s["filename"] == "varnholm.pdf" for s in cited), reply["sources"]
    assert any("Ingrid Salo" in s["snippet"] for s in cited), cited

    elsewhere = (await ask(api, alice, QUESTION))["message"]
    assert not cites(elsewhere, document_id), elsewhere["sources"]
    other_conversation = await new_conversation(api, alice)
    misattached = await api.post(
        f"/api/conversations/{other_conversation}/messages",
        headers=alice,
        json={"content": QUESTION, "attachments": [document_id]},
    )
    assert misattached.status_code == 422 and misattached.json()["error"]["code"] == "validation_error"
    library = (await api.get("/api/documents", headers=alice)).json()["items"]
    assert document_id not in {d["id"] for d in library}

    for refused in (
        await api.get(f"/api/documents/{document_id}", headers=bob),
        await api.get("/api/documents", headers=bob, params={"conversation_id": conversation}),
        await api.post(f"/api/documents/{document_id}/library", headers=bob),
        await api.post(
            "/api/documents",
            headers=bob,
            data={"conversation_id": conversation},
            files={"file": ("x.md", b"# intruder", "text/markdown")},
        ),
    ):
        assert refused.status_code == 404 and "error" in refused.json(), refused.text
    assert not cites((await ask(api, bob, QUESTION))["message"], document_id)


async def test_added_to_the_library_it_serves_every_conversation(api):
    alice = await register(api)
    conversation = await new_conversation(api, alice)
    document_id = await attach(api, alice, conversation)
    await watch(api, alice, document_id)
    added = await api.post(f"/api/documents/{document_id}/library", headers=alice)
    assert added.status_code == 200 and added.json()["conversation_id"] is None, added.text
    elsewhere = (await ask(api, alice, QUESTION))["message"]
    assert cites(elsewhere, document_id), elsewhere["sources"]


async def test_deleting_the_conversation_deletes_its_attachment(api):
    alice = await register(api)
    conversation = await new_conversation(api, alice)
    document_id = await attach(api, alice, conversation)
    await watch(api, alice, document_id)
    assert (await api.delete(f"/api/conversations/{conversation}", headers=alice)).status_code == 204
    # The dataflow deletes it on `conversations.deleted`, within seconds.
    deadline = asyncio.get_running_loop().time() + 30
    while (await api.get(f"/api/documents/{document_id}", headers=alice)).status_code != 404:
        assert asyncio.get_running_loop().time() < deadline, "the attachment outlived its conversation"
        await asyncio.sleep(0.5)
    # Its chunks went too: a new conversation's answer cannot cite it, nor can search find it.
    assert not cites((await ask(api, alice, QUESTION))["message"], document_id)
    hits = (await api.get("/api/search", headers=alice, params={"q": "Varnholm lighthouse keeper"})).json()
    assert all(h.get("document_id") != document_id for h in hits["items"]), hits
