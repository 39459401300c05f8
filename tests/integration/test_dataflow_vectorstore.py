"""alice_common.vectorstore against a real Weaviate: schema, tenants, idempotent ids, deletes."""

import uuid

import numpy as np
import pytest
from alice_common import clients, vectorstore
from alice_common.settings import AliceSettings
from weaviate.classes.data import DataObject

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(infra):
    settings = AliceSettings(
        weaviate_url=infra.weaviate_url,
        weaviate_grpc_port=infra.weaviate_grpc_port,
        weaviate_api_key=infra.weaviate_api_key,
    )
    c = clients.weaviate_client(settings)
    await c.connect()
    await vectorstore.ensure_collections(c)
    await vectorstore.ensure_collections(c)  # idempotent
    yield c
    await c.close()


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


async def put_chunk(client, user, document_id, index, text, vector):
    obj = DataObject(
        uuid=vectorstore.chunk_uuid(document_id, index),
        properties={"document_id": document_id, "filename": "f.md", "chunk_index": index, "text": text},
        vector=vector.tolist(),
    )
    result = await vectorstore.knowledge(client, user).data.insert_many([obj])
    assert not result.errors


async def put_message(client, user, conversation, text, vector):
    message_id = uuid.uuid4().hex
    obj = DataObject(
        uuid=vectorstore.message_uuid(message_id),
        properties={"message_id": message_id, "conversation_id": conversation, "role": "user", "text": text},
        vector=vector.tolist(),
    )
    assert not (await vectorstore.memory(client, user).data.insert_many([obj])).errors


async def test_schema_is_multi_tenant_without_vectorizer(client):
    for name in (vectorstore.KNOWLEDGE, vectorstore.MEMORY):
        config = await client.collections.use(name).config.get()
        assert config.multi_tenancy_config.enabled
        assert config.multi_tenancy_config.auto_tenant_creation
        searchable = {p.name for p in config.properties if p.index_searchable}
        assert searchable == {"text"}


async def test_tenants_isolate_users_and_redelivery_overwrites(client):
    alice, bob = uuid.uuid4().hex, uuid.uuid4().hex
    doc = uuid.uuid4().hex
    await put_chunk(client, alice, doc, 0, "zebra migration in the serengeti", unit(1))
    await put_chunk(client, alice, doc, 0, "zebra migration in the serengeti", unit(1))  # redelivered
    hits = await vectorstore.search_knowledge(client, alice, "zebra", unit(1), limit=10)
    assert len(hits) == 1 and hits[0].properties["document_id"] == doc
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert await vectorstore.search_knowledge(client, bob, "zebra", unit(1), limit=10) == []
    assert await vectorstore.delete_document_chunks(client, bob, doc) == 0
    assert await vectorstore.delete_document_chunks(client, alice, doc) == 1
    assert await vectorstore.search_knowledge(client, alice, "zebra", unit(1), limit=10) == []


async def test_memory_excludes_a_conversation_and_forgets_deleted_ones(client):
    user = uuid.uuid4().hex
    await put_message(client, user, "c1", "first conversation about sailing", unit(2))
    await put_message(client, user, "c2", "second conversation about sailing", unit(3))
    found = await vectorstore.search_memory(
        client, user, "sailing", unit(2), limit=10, exclude_conversation="c1"
    )
    assert [h.properties["conversation_id"] for h in found] == ["c2"]
    assert await vectorstore.delete_conversation_memory(client, user, "c2") == 1
    left = await vectorstore.search_memory(client, user, "sailing", unit(2), limit=10)
    assert [h.properties["conversation_id"] for h in left] == ["c1"]
    await vectorstore.delete_user_data(client, user)
    assert await vectorstore.search_memory(client, user, "sailing", unit(2), limit=10) == []


def test_tenant_names_are_legal_and_stable():
    assert vectorstore.tenant_name("0123abcd") == "0123abcd"
    odd = vectorstore.tenant_name("user@example.com")
    assert odd == vectorstore.tenant_name("user@example.com") and odd.isalnum()
    with pytest.raises(ValueError):
        vectorstore.tenant_name("")


async def put_attachment(client, user, document_id, conversation, text, vector):
    obj = DataObject(
        uuid=vectorstore.chunk_uuid(document_id, 0),
        properties={
            "document_id": document_id,
            "filename": "a.md",
            "chunk_index": 0,
            "text": text,
            "conversation_id": conversation,
            "attached": True,
        },
        vector=vector.tolist(),
    )
    assert not (await vectorstore.knowledge(client, user).data.insert_many([obj])).errors


async def test_knowledge_scope_is_the_library_plus_this_conversations_attachments(client):
    user, here, there = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    library, attached_here, attached_there = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    # Written like a chunk from before attachments existed: no `attached`, no `conversation_id`.
    await put_chunk(client, user, library, 0, "otters in the river", unit(5))
    await put_attachment(client, user, attached_here, here, "otters build dams", unit(5))
    await put_attachment(client, user, attached_there, there, "otters eat fish", unit(5))

    async def found(conversation: str) -> set[str]:
        scope = vectorstore.knowledge_scope(conversation)
        hits = await vectorstore.search_knowledge(client, user, "otters", unit(5), limit=10, filters=scope)
        return {h.properties["document_id"] for h in hits}

    assert await found(here) == {library, attached_here}
    assert await found(there) == {library, attached_there}
    await vectorstore.move_to_library(client, user, attached_there, 1)
    assert await found(here) == {library, attached_here, attached_there}


async def test_a_deleted_conversations_attachment_chunks_go_and_the_rest_stay(client):
    user, other_user, here, there = (uuid.uuid4().hex for _ in range(4))
    library, gone, moved, elsewhere, theirs = (uuid.uuid4().hex for _ in range(5))
    await put_chunk(client, user, library, 0, "the library", unit(6))
    await put_attachment(client, user, gone, here, "attached here", unit(6))
    await put_attachment(client, user, moved, here, "attached here, then added to the library", unit(6))
    await vectorstore.move_to_library(client, user, moved, 1)
    await put_attachment(client, user, elsewhere, there, "attached in another conversation", unit(6))
    await put_attachment(client, other_user, theirs, here, "another user's", unit(6))

    assert await vectorstore.delete_attachment_chunks(client, user, here) == 1
    assert await vectorstore.delete_attachment_chunks(client, user, here) == 0  # a redelivery

    async def documents(owner: str) -> set[str]:
        hits = await vectorstore.search_knowledge(client, owner, "attached", unit(6), limit=10)
        return {h.properties["document_id"] for h in hits}

    assert await documents(user) == {library, moved, elsewhere}
    assert await documents(other_user) == {theirs}
    assert await vectorstore.delete_attachment_chunks(client, uuid.uuid4().hex, here) == 0  # no tenant
