"""Files attached in a conversation's composer: scoped to it, listed with it, deleted with it."""

from alice_backend.routes.documents import UPLOAD_PATH
from alice_common import topics
from alice_common.events import ChatRequested, DocumentUploaded


async def _conversation(backend, auth) -> str:
    created = await backend.client.post("/api/conversations", headers=backend.bearer(auth), json={})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _attach(backend, auth, conversation_id: str, body: bytes = b"The launch code is 4711."):
    return await backend.client.post(
        UPLOAD_PATH,
        headers=backend.bearer(auth),
        data={"conversation_id": conversation_id},
        files={"file": ("plan.md", body, "text/markdown")},
    )


async def test_an_attachment_belongs_to_its_conversation_not_the_library(backend):
    auth = await backend.register()
    conversation_id = await _conversation(backend, auth)
    response = await _attach(backend, auth, conversation_id)
    assert response.status_code == 202, response.text
    document = response.json()["document"]
    assert document["conversation_id"] == conversation_id
    [registered] = backend.dataflow.registered
    assert registered["conversation_id"] == conversation_id
    [record] = await backend.published(topics.DOCUMENTS_UPLOADED)
    event = DocumentUploaded.model_validate_json(record.value)
    assert event.conversation_id == conversation_id and event.document_id == document["id"]

    headers = backend.bearer(auth)
    library = await backend.client.get(UPLOAD_PATH, headers=headers)
    assert library.status_code == 200 and library.json()["items"] == []
    attached = await backend.client.get(
        UPLOAD_PATH, headers=headers, params={"conversation_id": conversation_id}
    )
    assert [d["id"] for d in attached.json()["items"]] == [document["id"]]


async def test_add_to_library_moves_the_attachment_into_the_library(backend):
    auth = await backend.register()
    conversation_id = await _conversation(backend, auth)
    document = (await _attach(backend, auth, conversation_id)).json()["document"]
    headers = backend.bearer(auth)
    added = await backend.client.post(f"{UPLOAD_PATH}/{document['id']}/library", headers=headers)
    assert added.status_code == 200, added.text
    assert added.json()["conversation_id"] is None
    library = await backend.client.get(UPLOAD_PATH, headers=headers)
    assert [d["id"] for d in library.json()["items"]] == [document["id"]]


async def test_nobody_attaches_to_or_reads_another_users_conversation(backend):
    owner, intruder = await backend.register(), await backend.register()
    conversation_id = await _conversation(backend, owner)
    document = (await _attach(backend, owner, conversation_id)).json()["document"]

    refused = await _attach(backend, intruder, conversation_id)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "conversation_not_found"
    assert len(backend.dataflow.registered) == 1, "the intruder's file must not be registered"
    assert await backend.ctx.db["uploads.files"].count_documents({}) == 1, "nor stored"

    listed = await backend.client.get(
        UPLOAD_PATH, headers=backend.bearer(intruder), params={"conversation_id": conversation_id}
    )
    assert listed.status_code == 404
    moved = await backend.client.post(
        f"{UPLOAD_PATH}/{document['id']}/library", headers=backend.bearer(intruder)
    )
    assert moved.status_code == 404
    assert backend.dataflow.documents[document["id"]][1].conversation_id == conversation_id


async def test_a_malformed_conversation_id_is_refused_before_anything_is_stored(backend):
    auth = await backend.register()
    response = await _attach(backend, auth, "../not-an-id")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert backend.dataflow.registered == []
    assert await backend.ctx.db["uploads.files"].count_documents({}) == 0


async def test_a_message_records_the_attachments_it_was_sent_with(backend):
    auth = await backend.register()
    headers = backend.bearer(auth)
    conversation_id = await _conversation(backend, auth)
    document = (await _attach(backend, auth, conversation_id)).json()["document"]
    other = await _conversation(backend, auth)
    misplaced = await backend.client.post(
        f"/api/conversations/{other}/messages",
        headers=headers,
        json={"content": "what does it say?", "attachments": [document["id"]]},
    )
    assert misplaced.status_code == 422 and misplaced.json()["error"]["code"] == "validation_error"

    sent = await backend.client.post(
        f"/api/conversations/{conversation_id}/messages",
        headers=headers,
        json={"content": "what does it say?", "attachments": [document["id"]]},
    )
    assert sent.status_code == 202, sent.text
    [record] = await backend.published_chat_requests()
    request = ChatRequested.model_validate_json(record.value)
    assert [(a.document_id, a.filename) for a in request.attachments] == [(document["id"], "plan.md")]
