"""`conversations.deleted` in the dataflow: the conversation's attachments go (records, files and
chunks), the library and other conversations keep theirs, a redelivery is harmless, and an upload
registered after the deletion is refused. Real MongoDB and GridFS; Weaviate is replaced by a
recorder of what was deleted."""

import pytest
from alice_common import vectorstore
from alice_common.events import ConversationDeleted
from alice_dataflow.deletions import ConversationDeletions
from alice_dataflow.documents import DocumentStore
from devstack.testing import unique_name
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(infra, monkeypatch):
    client = AsyncMongoClient(infra.mongodb_url)
    db = client[unique_name("dataflow-conv-delete")]
    chunks_deleted: list[tuple[str, str]] = []

    async def delete_chunks(weaviate, user_id, conversation_id):
        chunks_deleted.append((user_id, conversation_id))
        return 1

    async def delete_memory(weaviate, user_id, conversation_id):
        return 0

    monkeypatch.setattr(vectorstore, "delete_attachment_chunks", delete_chunks)
    monkeypatch.setattr(vectorstore, "delete_conversation_memory", delete_memory)
    store, uploads = DocumentStore(db), AsyncGridFSBucket(db, "uploads")
    try:
        yield db, store, uploads, ConversationDeletions(db, None, store, uploads), chunks_deleted
    finally:
        await client.drop_database(db.name)
        await client.close()


async def attach(store, uploads, user_id: str, document_id: str, conversation_id: str | None) -> None:
    blob_id = f"{document_id}-blob"
    await uploads.upload_from_stream_with_id(blob_id, "n.txt", b"notes", metadata={"user_id": user_id})
    await store.register(user_id, document_id, "n.txt", "text/plain", 5, blob_id, conversation_id)


async def test_the_conversations_attachments_go_and_everything_else_stays(world):
    db, store, uploads, deletions, chunks_deleted = world
    alice, bob = unique_name("alice"), unique_name("bob")
    await attach(store, uploads, alice, "gone", "c1")
    await attach(store, uploads, alice, "other-chat", "c2")
    await attach(store, uploads, alice, "library", None)
    await attach(store, uploads, bob, "bobs", "c1")  # the same conversation id, another user

    for _ in range(2):  # a redelivery is harmless
        await deletions.handle(ConversationDeleted(user_id=alice, conversation_id="c1"), None)

    assert sorted(d["_id"] for d in await db["documents"].find().to_list()) == [
        "bobs",
        "library",
        "other-chat",
    ]
    files = sorted(f["_id"] for f in await db["uploads.files"].find().to_list())
    assert files == ["bobs-blob", "library-blob", "other-chat-blob"]
    assert chunks_deleted == [(alice, "c1"), (alice, "c1")]
    assert await deletions.is_deleted(alice, "c1") and not await deletions.is_deleted(bob, "c1")


async def test_an_attachment_registered_after_the_deletion_is_refused_and_removed(world):
    _, store, uploads, deletions, _ = world
    alice = unique_name("alice")
    await deletions.handle(ConversationDeleted(user_id=alice, conversation_id="c1"), None)

    await attach(store, uploads, alice, "late", "c1")
    assert await deletions.registered_too_late(alice, "c1", "late")
    assert await store.get(alice, "late") is None

    await attach(store, uploads, alice, "fine", "c2")
    assert not await deletions.registered_too_late(alice, "c2", "fine")
    await attach(store, uploads, alice, "library", None)
    assert not await deletions.registered_too_late(alice, None, "library")
    assert await store.get(alice, "fine") and await store.get(alice, "library")
