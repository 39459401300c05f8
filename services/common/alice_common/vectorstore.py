"""Weaviate collections shared by dataflow (writes, search) and orchestrator (retrieval).

Both collections are multi-tenant with one tenant per user, so a query can only ever see the
data of the tenant it names. Vectors are computed by Alice (`alice_common.embeddings`), never by
Weaviate. `text` is the only BM25-searchable property; ids are filter-only.

    await ensure_collections(client)                       # once, in the lifespan
    hits = await search_knowledge(client, user_id, query, vector, limit=5)
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256

import numpy as np
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery
from weaviate.collections import CollectionAsync
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateBaseError
from weaviate.util import generate_uuid5

from alice_common import linear_re
from alice_common.ids import INTERNAL_ID_PATTERN

log = logging.getLogger(__name__)

KNOWLEDGE = "KnowledgeChunk"
MEMORY = "MessageMemory"
# Hybrid weight of the vector score against BM25 (1.0 = vector only). Semantic matches matter
# most (a question rarely repeats the words of a document), keywords break ties and catch names.
DEFAULT_ALPHA = 0.7

_TENANT_OK = linear_re.compile(INTERNAL_ID_PATTERN)


def _id_property(name: str) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=Tokenization.FIELD,
        index_filterable=True,
        index_searchable=False,
    )


def _text_property() -> Property:
    return Property(
        name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD, index_searchable=True
    )


SCHEMAS: dict[str, list[Property]] = {
    KNOWLEDGE: [
        _id_property("document_id"),
        Property(name="filename", data_type=DataType.TEXT, index_searchable=False),
        Property(name="chunk_index", data_type=DataType.INT),
        _text_property(),
        _id_property("conversation_id"),
        Property(name="attached", data_type=DataType.BOOL),
    ],
    MEMORY: [
        _id_property("message_id"),
        _id_property("conversation_id"),
        _id_property("role"),
        _text_property(),
        Property(name="created_at", data_type=DataType.DATE),
    ],
}


def tenant_name(user_id: str) -> str:
    """The Weaviate tenant of a user. Ids are uuid hex; anything else is hashed into a legal name."""
    if not user_id:
        raise ValueError("a user id is required for every vector store access")
    if _TENANT_OK.match(user_id):
        return user_id
    return "u" + sha256(user_id.encode()).hexdigest()[:40]


def chunk_uuid(document_id: str, chunk_index: int) -> str:
    """Deterministic: indexing the same document again overwrites instead of duplicating."""
    return str(generate_uuid5(f"{document_id}:{chunk_index}", KNOWLEDGE))


def message_uuid(message_id: str) -> str:
    return str(generate_uuid5(message_id, MEMORY))


async def ensure_collections(client: weaviate.WeaviateAsyncClient) -> None:
    """Create both collections if missing. Safe to race with another service doing the same."""
    for name, properties in SCHEMAS.items():
        if await client.collections.exists(name):
            await _add_missing_properties(client.collections.use(name), properties)
            continue
        try:
            await client.collections.create(
                name,
                properties=properties,
                vector_config=Configure.Vectors.self_provided(),
                multi_tenancy_config=Configure.multi_tenancy(
                    enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
                ),
            )
            log.info("created Weaviate collection", extra={"collection": name})
        except UnexpectedStatusCodeError:
            if not await client.collections.exists(name):
                raise


async def _add_missing_properties(collection: CollectionAsync, properties: list[Property]) -> None:
    """A collection created by an older release gains the properties added since (filters on a
    property the schema does not know fail)."""
    known = {p.name for p in (await collection.config.get()).properties}
    for prop in properties:
        if prop.name not in known:
            try:
                await collection.config.add_property(prop)
            except UnexpectedStatusCodeError:
                log.info("property %s already added by another service", prop.name)


def tenant_collection(client: weaviate.WeaviateAsyncClient, name: str, user_id: str) -> CollectionAsync:
    return client.collections.use(name).with_tenant(tenant_name(user_id))


def knowledge(client: weaviate.WeaviateAsyncClient, user_id: str) -> CollectionAsync:
    return tenant_collection(client, KNOWLEDGE, user_id)


def memory(client: weaviate.WeaviateAsyncClient, user_id: str) -> CollectionAsync:
    return tenant_collection(client, MEMORY, user_id)


@dataclass
class Hit:
    collection: str
    uuid: str
    # Fused hybrid score, relative to the other hits of the same query (ranking only).
    score: float
    # Cosine similarity of the hit's vector to the query vector: absolute, use it for thresholds.
    similarity: float
    properties: dict = field(default_factory=dict)


def _is_missing_tenant(exc: Exception) -> bool:
    text = str(exc).lower()
    return "tenant" in text and ("not found" in text or "not exist" in text)


async def hybrid(
    collection: CollectionAsync,
    query: str,
    vector: np.ndarray,
    limit: int,
    alpha: float = DEFAULT_ALPHA,
    filters: Filter | None = None,
) -> list[Hit]:
    """Hybrid (vector + BM25 on `text`) search in one tenant; a user with no data yet gets []."""
    try:
        result = await collection.query.hybrid(
            query=query,
            vector=[float(x) for x in vector],
            alpha=alpha,
            query_properties=["text"],
            fusion_type=HybridFusion.RELATIVE_SCORE,
            limit=limit,
            filters=filters,
            return_metadata=MetadataQuery(score=True),
            include_vector=True,
        )
    except WeaviateBaseError as exc:
        if _is_missing_tenant(exc):
            return []
        raise
    query_vector = np.asarray(vector, dtype=np.float32)
    return [
        Hit(
            collection=collection.name,
            uuid=str(o.uuid),
            score=float(o.metadata.score or 0.0),
            similarity=_cosine(query_vector, o.vector),
            properties=o.properties,
        )
        for o in result.objects
    ]


def _cosine(query: np.ndarray, vectors: dict) -> float:
    stored = next(iter(vectors.values()), None) if vectors else None
    if stored is None:
        return 0.0
    stored = np.asarray(stored, dtype=np.float32)
    denom = float(np.linalg.norm(query) * np.linalg.norm(stored)) or 1.0
    return float(query @ stored) / denom


async def search_knowledge(
    client, user_id: str, query: str, vector: np.ndarray, limit: int = 5, **kw
) -> list[Hit]:
    return await hybrid(knowledge(client, user_id), query, vector, limit, **kw)


def knowledge_scope(conversation_id: str) -> Filter:
    """The library plus this conversation's attachments. Chunks indexed before attachments existed
    have no `attached` property: `not_equal(True)` counts them as library chunks."""
    return Filter.any_of(
        [
            Filter.by_property("attached").not_equal(True),
            Filter.by_property("conversation_id").equal(conversation_id),
        ]
    )


async def move_to_library(client, user_id: str, document_id: str, chunks: int) -> None:
    """An attachment becomes a library document: its chunks stop being conversation-scoped."""
    collection = knowledge(client, user_id)
    for index in range(chunks):
        await collection.data.update(uuid=chunk_uuid(document_id, index), properties={"attached": False})


async def search_memory(
    client,
    user_id: str,
    query: str,
    vector: np.ndarray,
    limit: int = 5,
    exclude_conversation: str | None = None,
    **kw,
) -> list[Hit]:
    """Past messages of the user; `exclude_conversation` leaves out the one being answered."""
    filters = None
    if exclude_conversation:
        filters = Filter.by_property("conversation_id").not_equal(exclude_conversation)
    return await hybrid(memory(client, user_id), query, vector, limit, filters=filters, **kw)


async def _delete_where(collection, where: Filter) -> int:
    """Delete the objects `where` selects in one tenant's collection; a tenant that was never
    created holds nothing to delete."""
    try:
        result = await collection.data.delete_many(where=where)
    except WeaviateBaseError as exc:
        if _is_missing_tenant(exc):
            return 0
        raise
    return int(result.successful)


async def delete_document_chunks(client, user_id: str, document_id: str) -> int:
    """Remove every chunk of a document from the owner's tenant; returns how many were deleted."""
    return await _delete_where(
        knowledge(client, user_id), Filter.by_property("document_id").equal(document_id)
    )


async def delete_attachment_chunks(client, user_id: str, conversation_id: str) -> int:
    """Remove the chunks of a deleted conversation's attachments (not of those added to the library
    from it); needs no document record, so it also finds what a crash left behind."""
    where = Filter.all_of(
        [
            Filter.by_property("conversation_id").equal(conversation_id),
            Filter.by_property("attached").equal(True),
        ]
    )
    return await _delete_where(knowledge(client, user_id), where)


async def delete_conversation_memory(client, user_id: str, conversation_id: str) -> int:
    """Forget a deleted conversation's messages, so search and memory stop returning them."""
    return await _delete_where(
        memory(client, user_id), Filter.by_property("conversation_id").equal(conversation_id)
    )


async def delete_user_data(client, user_id: str) -> None:
    """Drop the user's tenant from both collections (account deletion)."""
    tenant = tenant_name(user_id)
    for name in SCHEMAS:
        tenants = client.collections.use(name).tenants
        if await tenants.exists(tenant):
            await tenants.remove([tenant])


def as_rfc3339(value: datetime) -> datetime:
    """Weaviate DATE properties need a timezone; naive datetimes from Mongo are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = [
    "KNOWLEDGE",
    "MEMORY",
    "Hit",
    "as_rfc3339",
    "chunk_uuid",
    "delete_attachment_chunks",
    "delete_conversation_memory",
    "delete_document_chunks",
    "delete_user_data",
    "ensure_collections",
    "hybrid",
    "knowledge",
    "knowledge_scope",
    "memory",
    "message_uuid",
    "move_to_library",
    "search_knowledge",
    "search_memory",
    "tenant_name",
]
