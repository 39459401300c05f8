"""Weaviate as Alice uses it: multi-tenant collections with vectors supplied by Alice."""

import random

import pytest
from alice_common import clients
from alice_common.settings import AliceSettings
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import MetadataQuery
from weaviate.classes.tenants import Tenant

pytestmark = pytest.mark.integration

DIM = 384


def vector(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def near(base: list[float], seed: int, noise: float = 0.05) -> list[float]:
    rng = random.Random(seed)
    return [x + rng.uniform(-noise, noise) for x in base]


@pytest.fixture
async def weaviate(infra):
    settings = AliceSettings(
        weaviate_url=infra.weaviate_url,
        weaviate_grpc_port=infra.weaviate_grpc_port,
        weaviate_api_key=infra.weaviate_api_key,
    )
    client = clients.weaviate_client(settings)
    await client.connect()
    yield client
    await client.close()


@pytest.fixture
async def collection(weaviate, unique_name):
    name = unique_name("Chunks")
    created = await weaviate.collections.create(
        name,
        properties=[
            Property(name="document_id", data_type=DataType.TEXT),
            Property(name="text", data_type=DataType.TEXT),
        ],
        vector_config=Configure.Vectors.self_provided(),
        multi_tenancy_config=Configure.multi_tenancy(enabled=True),
    )
    yield created
    await weaviate.collections.delete(name)


async def test_readiness_check_passes(weaviate):
    check = clients.weaviate_check(weaviate)
    await check()  # raises when Weaviate is not ready


async def test_near_vector_query_finds_the_right_object_within_the_tenant(collection):
    await collection.tenants.create([Tenant(name="user_a"), Tenant(name="user_b")])
    texts = {
        "d1": "Kafka partitions keep per-key order",
        "d2": "Redis streams relay tokens",
        "d3": "FerretDB speaks the MongoDB protocol",
    }
    vectors = {doc_id: vector(i) for i, doc_id in enumerate(texts)}
    user_a = collection.with_tenant("user_a")
    result = await user_a.data.insert_many(
        [
            DataObject(properties={"document_id": doc_id, "text": text}, vector=vectors[doc_id])
            for doc_id, text in texts.items()
        ]
    )
    assert not result.errors

    hits = await user_a.query.near_vector(
        near_vector=near(vectors["d2"], seed=99), limit=2, return_metadata=MetadataQuery(distance=True)
    )
    assert len(hits.objects) == 2
    assert hits.objects[0].properties["document_id"] == "d2"
    assert hits.objects[0].properties["text"] == texts["d2"]
    assert hits.objects[0].metadata.distance < hits.objects[1].metadata.distance

    # Another tenant sees none of user_a's objects, even with the exact vector.
    user_b = collection.with_tenant("user_b")
    other = await user_b.query.near_vector(near_vector=vectors["d2"], limit=3)
    assert other.objects == []
    await user_b.data.insert(properties={"document_id": "b1", "text": "bob's"}, vector=vectors["d2"])
    mine = await user_a.query.near_vector(near_vector=vectors["d2"], limit=5)
    assert {hit.properties["document_id"] for hit in mine.objects} == set(texts)
