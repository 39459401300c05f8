"""Ingestion reads the file the document was registered with, and only its owner's: a
`documents.uploaded` event naming someone else's blob indexes nothing of theirs. Real MongoDB
(GridFS and the documents store) and the real extraction; the vector store is replaced by a
recorder of what would have been indexed."""

import pytest
from alice_common.events import DocumentUploaded
from alice_dataflow.documents import FAILED, DocumentStore
from alice_dataflow.extract import DocumentError
from alice_dataflow.ingest import Ingestor
from alice_dataflow.settings import Settings
from devstack.testing import unique_name
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

ALICE_TEXT, BOB_TEXT = b"Alice's own notes about tulips.", b"Bob's secret: the vault code is 4711."


class Producer:
    async def send_and_wait(self, topic, value, key=None, headers=None):
        pass


@pytest.fixture
async def world(infra):
    client = AsyncMongoClient(infra.mongodb_url)
    db = client[unique_name("dataflow-blob")]
    store, uploads = DocumentStore(db), AsyncGridFSBucket(db, bucket_name="uploads")

    async def upload(user_id: str, document_id: str, data: bytes) -> str:
        meta = {"user_id": user_id, "document_id": document_id, "content_type": "text/plain"}
        return str(await uploads.upload_from_stream(f"{document_id}.txt", data, metadata=meta))

    settings = Settings(alice_internal_token="unit-token-long-enough-to-be-a-secret", kafka_topic_prefix="p.")
    ingestor = Ingestor(settings, store, uploads, None, None, Producer())
    indexed: list[tuple[str, list[str]]] = []

    async def record_index(event, chunks):
        indexed.append((event.user_id, chunks))

    ingestor._index = record_index
    try:
        yield store, upload, ingestor, indexed
    finally:
        await client.drop_database(db.name)
        await client.close()


def event_for(document_id: str, user_id: str, blob_id: str) -> DocumentUploaded:
    return DocumentUploaded(
        document_id=document_id, user_id=user_id, filename="notes.txt", content_type="text/plain",
        size=64, blob_id=blob_id,
    )  # fmt: skip


async def test_the_event_cannot_point_a_document_at_another_users_blob(world):
    store, upload, ingestor, indexed = world
    alice_blob = await upload("alice", "doc-a", ALICE_TEXT)
    bob_blob = await upload("bob", "doc-b", BOB_TEXT)
    await store.register("alice", "doc-a", "notes.txt", "text/plain", len(ALICE_TEXT), alice_blob)

    await ingestor.ingest(event_for("doc-a", "alice", bob_blob))

    assert indexed and all(b"vault" not in chunk.encode() for _, chunks in indexed for chunk in chunks)
    assert "tulips" in " ".join(indexed[0][1])


async def test_a_registered_blob_of_another_owner_is_refused(world):
    store, upload, ingestor, indexed = world
    bob_blob = await upload("bob", "doc-b", BOB_TEXT)
    # A registration naming a blob that is not the owner's (only the backend registers; defence
    # in depth): nothing is read.
    await store.register("alice", "doc-x", "notes.txt", "text/plain", len(BOB_TEXT), bob_blob)
    with pytest.raises(DocumentError):
        await ingestor.ingest(event_for("doc-x", "alice", bob_blob))
    assert indexed == []
    assert (await store.get_any("doc-x"))["status"] == FAILED
