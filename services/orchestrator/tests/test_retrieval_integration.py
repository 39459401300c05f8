"""Retrieval against real Weaviate with the real embedding model: knowledge sources from the
user's own tenant only, memory from the user's other conversations only."""

import uuid

import pytest
from alice_common import clients, vectorstore
from alice_common.embeddings import get_embedder
from alice_common.events import ChatRequested
from alice_orchestrator.retrieval import WeaviateRetriever
from alice_orchestrator.settings import Settings

pytestmark = pytest.mark.integration

CHUNKS = [
    "The Zephyr-9 espresso machine must be descaled every 200 cups using citric acid.",
    "Our office plants are watered on Mondays and Thursdays by the facilities team.",
]


@pytest.fixture
async def weaviate(infra):
    settings = Settings(
        weaviate_url=infra.weaviate_url,
        weaviate_grpc_port=infra.weaviate_grpc_port,
        weaviate_api_key=infra.weaviate_api_key,
    )
    client = clients.weaviate_client(settings)
    await client.connect()
    await vectorstore.ensure_collections(client)
    yield settings, client
    await client.close()


def ask(user: str, content: str, conversation: str = "conv-now", **kw) -> ChatRequested:
    return ChatRequested(
        conversation_id=conversation,
        user_id=user,
        message_id=uuid.uuid4().hex,
        reply_id=uuid.uuid4().hex,
        content=content,
        **kw,
    )


async def test_knowledge_and_memory_come_from_the_users_own_tenant(weaviate):
    settings, client = weaviate
    embedder = get_embedder(settings)
    alice, bob = "u" + uuid.uuid4().hex, "u" + uuid.uuid4().hex
    document_id = uuid.uuid4().hex
    vectors = embedder.embed(CHUNKS)
    for index, (text, vector) in enumerate(zip(CHUNKS, vectors, strict=True)):
        await vectorstore.knowledge(client, alice).data.insert(
            {"document_id": document_id, "filename": "manual.md", "chunk_index": index, "text": text},
            vector=[float(x) for x in vector],
            uuid=vectorstore.chunk_uuid(document_id, index),
        )
    memory_text = "My daughter's name is Penelope and she loves astronomy."
    await vectorstore.memory(client, alice).data.insert(
        {"message_id": "m-old", "conversation_id": "conv-old", "role": "user", "text": memory_text},
        vector=[float(x) for x in embedder.embed([memory_text])[0]],
        uuid=vectorstore.message_uuid("m-old"),
    )
    retriever = WeaviateRetriever(settings, client, embedder)

    sources, _ = await retriever.retrieve(ask(alice, "How often should I descale the espresso machine?"))
    assert sources, "the matching chunk clears the relevance threshold"
    top = sources[0]
    assert top["document_id"] == document_id and top["filename"] == "manual.md" and top["chunk"] == 0
    assert "descaled" in top["snippet"] and 0 < top["score"] <= 1
    assert "plants" not in " ".join(s["snippet"] for s in sources), "the unrelated chunk stays out"

    # Another user asking the same thing sees nothing of it; a user with no tenant is no error.
    assert await retriever.retrieve(ask(bob, "How often should I descale the espresso machine?")) == ([], [])

    # Nothing relevant: nothing above the threshold.
    unrelated, _ = await retriever.retrieve(ask(alice, "Who won the football world cup in 1966?"))
    assert unrelated == []

    # Memory: from other conversations only, and only when the user allows it.
    question = "What does my daughter Penelope like?"
    _, memories = await retriever.retrieve(ask(alice, question, use_knowledge=False))
    assert any("Penelope" in m for m in memories)
    _, same_conversation = await retriever.retrieve(ask(alice, question, conversation="conv-old"))
    assert same_conversation == []
    assert await retriever.retrieve(ask(alice, question, use_knowledge=False, use_memory=False)) == ([], [])
