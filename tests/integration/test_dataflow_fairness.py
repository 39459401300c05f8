"""One user cannot starve the others' indexing (issue 22): the dataflow against real Kafka,
MongoDB (wire protocol), Weaviate and the real embedding model.

User A's large documents keep the embedding model busy for a long while; user B's small note is
searchable within seconds all the same, A's waiting document says `queued` with its place in
line, and a document past the per-document bound or made of one repeated word costs no thousands
of embeddings.
"""

import asyncio
import random
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from alice_common import topics
from alice_common.events import ChatCompleted, DocumentUploaded, Usage
from devstack.testing import ServiceProcess, service_env, unique_name
from gridfs import GridFSBucket
from pymongo import MongoClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "dataflow-fairness-token-long-enough-to-be-a-secret"
MAX_CHUNKS = 500
NOTE = b"Boathouse key: behind the blue door."  # 36 bytes
TERMINAL = ("indexed", "failed")


def varied_text(words: int, seed: int) -> bytes:
    """Text that makes distinct chunks (nothing for the repetition filter to collapse): about
    one chunk per 86 words."""
    rng = random.Random(seed)
    stems = ["harbour", "tide", "lamp", "keeper", "ship", "storm", "ledger", "gull", "reef", "rope"]
    ends = ["s", "ed", "ing", "er", "ward", "less", "ful"]
    return " ".join(rng.choice(stems) + rng.choice(ends) for _ in range(words)).encode()


@pytest.fixture(scope="module")
def names(infra):
    return {"prefix": f"{infra.kafka_topic_prefix}{unique_name('fair')}.", "db": unique_name("fair")}


@pytest.fixture(scope="module")
def dataflow(infra, names):
    env = service_env(
        infra,
        kafka_topic_prefix=names["prefix"],
        mongodb_database=names["db"],
        alice_internal_token=TOKEN,
        kafka_topic_partitions=2,
        max_document_chunks=MAX_CHUNKS,
    )
    svc = ServiceProcess("dataflow", env, ready_timeout_s=120).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def mongo(infra, names):
    client = MongoClient(infra.mongodb_url)
    yield client[names["db"]]
    client.close()


@pytest.fixture
def api(dataflow):
    with httpx.Client(base_url=dataflow.url, headers={"X-Internal-Token": TOKEN}, timeout=30) as client:
        yield client


@pytest.fixture
async def producer(infra):
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


async def upload(api, mongo, producer, names, user_id, filename, data, content_type="text/plain") -> str:
    document_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex
    GridFSBucket(mongo, "uploads").upload_from_stream_with_id(
        blob_id, filename, data, metadata={"user_id": user_id, "document_id": document_id}
    )  # as the backend stores it: the dataflow reads only a blob of the document's owner
    body = {"document_id": document_id, "filename": filename, "content_type": content_type,
            "size": len(data), "blob_id": blob_id}  # fmt: skip
    response = api.post("/internal/documents", params={"user_id": user_id}, json=body)
    assert response.status_code == 201, response.text
    event = DocumentUploaded(user_id=user_id, **body)
    await producer.send_and_wait(
        names["prefix"] + topics.DOCUMENTS_UPLOADED.name, event.to_bytes(), key=document_id.encode()
    )
    return document_id


def document(api, user_id, document_id) -> dict:
    response = api.get(f"/internal/documents/{document_id}", params={"user_id": user_id})
    assert response.status_code == 200, response.text
    return response.json()


async def until(predicate, timeout_s: float, what: str, poll_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        await asyncio.sleep(poll_s)


async def test_a_document_past_the_bound_fails_with_a_reason_without_being_embedded(
    api, mongo, producer, names
):
    user = uuid.uuid4().hex
    doc_id = await upload(api, mongo, producer, names, user, "saga.txt", varied_text(60_000, seed=1))
    done = await until(
        lambda: (d := document(api, user, doc_id))["status"] in TERMINAL and d, 60, "the long document ends"
    )
    assert done["status"] == "failed", done
    assert done["error"].startswith("too much text: the document makes "), done
    assert f"at most {MAX_CHUNKS}" in done["error"]
    assert done["chunks"] == 0


async def test_one_repeated_word_is_indexed_as_its_few_distinct_chunks(api, mongo, producer, names):
    user = uuid.uuid4().hex
    spam = b"buffalo " * 250_000  # 2 MB; 3,125 chunk windows, all alike
    doc_id = await upload(api, mongo, producer, names, user, "spam.txt", spam)
    done = await until(
        lambda: (d := document(api, user, doc_id))["status"] in TERMINAL and d, 60, "the spam document ends"
    )
    assert done["status"] == "indexed", done
    assert 1 <= done["chunks"] <= 3, done


async def test_a_small_note_is_searchable_within_seconds_while_another_users_large_documents_index(
    api, mongo, producer, names
):
    alice, bob = uuid.uuid4().hex, uuid.uuid4().hex
    # Two documents of about 400 chunks each: minutes of embedding on a busy 2-core machine.
    big = [
        await upload(api, mongo, producer, names, alice, f"logbook-{i}.txt", varied_text(34_000, seed=10 + i))
        for i in range(2)
    ]
    # Wait until the model is busy with alice's chunks.
    await until(
        lambda: any(
            (d := document(api, alice, i))["status"] == "processing" and d["progress"] > 15 for i in big
        ),
        120,
        "alice's first document is being embedded",
        poll_s=0.2,
    )
    started = time.monotonic()
    note = await upload(api, mongo, producer, names, bob, "note.txt", NOTE)
    turn = ChatCompleted(
        conversation_id=uuid.uuid4().hex, user_id=bob, user_message_id=uuid.uuid4().hex,
        assistant_message_id=uuid.uuid4().hex, reply_id=uuid.uuid4().hex,
        user_content="My bicycle has a flat rear tyre.", assistant_content="Patch the inner tube.",
        usage=Usage(prompt_tokens=8, completion_tokens=5, latency_ms=400.0),
    )  # fmt: skip
    key = turn.conversation_id.encode()
    await producer.send_and_wait(names["prefix"] + topics.CHAT_COMPLETED.name, turn.to_bytes(), key=key)

    def found(query: str, kind: str):
        try:  # a search stuck behind the indexing is a miss, not a hang past the deadline
            response = api.get("/internal/search", params={"user_id": bob, "q": query}, timeout=5)
        except httpx.TimeoutException:
            return []
        return [h for h in response.json()["items"] if h["type"] == kind]

    await until(lambda: document(api, bob, note)["status"] == "indexed", 10, "bob's note is indexed")
    indexed = time.monotonic() - started
    hits = await until(
        lambda: found("where is the boathouse key", "document"), 10 - indexed, "bob's note is found"
    )
    waited = time.monotonic() - started
    print(f"bob's note was indexed {indexed:.1f} s and found {waited:.1f} s after its upload")
    assert hits[0]["document_id"] == note
    assert document(api, bob, note)["status"] == "indexed"
    await until(lambda: found("bike puncture", "message"), 10 - waited, "bob's chat turn is searchable")
    # Alice's work is still going on: the note did not just come after it.
    states = [document(api, alice, i) for i in big]
    assert any(s["status"] == "processing" for s in states), states
    # One document of alice is processed at a time; the other one waits, and says so.
    queued = [s for s in states if s["status"] == "queued"]
    assert len(queued) == 1 and queued[0]["position"] == 1 and queued[0]["progress"] == 0, states
    # The waiting one is not needed for the rest: deleting it while queued drops it from the line.
    assert api.delete(f"/internal/documents/{queued[0]['id']}", params={"user_id": alice}).status_code == 204
    running = next(s["id"] for s in states if s["status"] == "processing")
    done = await until(
        lambda: (d := document(api, alice, running))["status"] in TERMINAL and d,
        300,
        "alice's document ends",
        poll_s=0.5,
    )
    assert done["status"] == "indexed" or done["error"], done
    assert done["position"] is None
