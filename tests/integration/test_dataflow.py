"""The dataflow service against real Kafka, MongoDB (wire protocol) and Weaviate.

Uploads are done the way the backend does them: the blob into GridFS `uploads`, then
`POST /internal/documents`, then `DocumentUploaded` on `documents.uploaded`.
"""

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from alice_common import linear_re, topics
from alice_common.events import ChatCompleted, ConversationDeleted, DocumentUploaded, Usage
from alice_common.kafka import HEADER_ERROR
from alice_common.wire import SearchResults, StoredDocument, StoredDocumentPage
from devstack.testing import ServiceProcess, service_env, unique_name
from gridfs import GridFSBucket
from pymongo import MongoClient

from tests.support import pdfmaker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "dataflow-test-token-long-enough-to-be-a-secret"
ROOT = Path(__file__).resolve().parents[2]

LIGHTHOUSE = [
    "Field notes from the northern coast survey.",
    "The lighthouse on Varnholm island is kept by a woman named Ingrid Salo.",
    "She has tended the lamp since 1987 and logs every passing ship by hand.",
    "Supplies arrive by boat once a fortnight, weather permitting.",
]


def markdown_doc(sections: int) -> bytes:
    topics = ["Kafka partitions", "consumer groups", "offset commits", "replication", "retention"]
    parts = ["# Operations handbook\n"]
    for i in range(sections):
        topic = topics[i % len(topics)]
        parts.append(f"\n## Section {i}: {topic}\n")
        parts.append(
            f"In section {i} we explain {topic} in depth. Each broker stores its logs on disk and "
            "serves fetch requests from followers and consumers. Operators watch lag and disk usage, "
            "rebalance partitions when brokers join, and alert when under-replicated partitions appear. " * 3
        )
    return "".join(parts).encode()


@pytest.fixture(scope="module")
def names(infra):
    return {"prefix": f"{infra.kafka_topic_prefix}{unique_name('df')}.", "db": unique_name("df")}


@pytest.fixture(scope="module")
def dataflow(infra, names):
    env = service_env(
        infra,
        kafka_topic_prefix=names["prefix"],
        mongodb_database=names["db"],
        alice_internal_token=TOKEN,
        kafka_topic_partitions=2,
        ingest_batch_size=16,
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
    """Every successful answer is checked against the shared wire model the backend reads it as:
    a field the dataflow renamed, retyped or dropped fails the test that received it."""
    with httpx.Client(
        base_url=dataflow.url,
        headers={"X-Internal-Token": TOKEN},
        timeout=30,
        event_hooks={"response": [validate_wire]},
    ) as client:
        yield client


WIRE_MODELS = [
    ("POST", linear_re.compile(r"^/internal/documents$"), StoredDocument),
    ("GET", linear_re.compile(r"^/internal/documents$"), StoredDocumentPage),
    ("GET", linear_re.compile(r"^/internal/documents/[^/]+$"), StoredDocument),
    ("GET", linear_re.compile(r"^/internal/search$"), SearchResults),
]


def validate_wire(response: httpx.Response) -> None:
    if response.status_code not in (200, 201):
        return
    request = response.request
    for method, path, model in WIRE_MODELS:
        if request.method == method and path.match(request.url.path):
            response.read()
            model.model_validate_json(response.content)


@pytest.fixture
async def producer(infra):
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


async def upload(api, mongo, producer, names, user_id, filename, content_type, data) -> str:
    document_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex
    GridFSBucket(mongo, "uploads").upload_from_stream_with_id(
        blob_id, filename, data, metadata={"user_id": user_id, "document_id": document_id}
    )  # as the backend stores it: the dataflow reads only a blob of the document's owner
    body = {"document_id": document_id, "filename": filename, "content_type": content_type,
            "size": len(data), "blob_id": blob_id}  # fmt: skip
    response = api.post("/internal/documents", params={"user_id": user_id}, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "queued"
    event = DocumentUploaded(user_id=user_id, **body)
    await producer.send_and_wait(
        names["prefix"] + topics.DOCUMENTS_UPLOADED.name, event.to_bytes(), key=document_id.encode()
    )
    return document_id


async def watch(api, user_id, document_id, timeout_s=120) -> list[dict]:
    """Every distinct state the document shows until it is indexed or failed."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = api.get(f"/internal/documents/{document_id}", params={"user_id": user_id}).json()
        state = {k: doc[k] for k in ("status", "progress", "chunks", "error")}
        if not seen or seen[-1] != state:
            seen.append(state)
        if doc["status"] in ("indexed", "failed"):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"document {document_id} still not done: {seen}")


def assert_progress_rises(states: list[dict]) -> None:
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress), states
    assert states[-1]["status"] == "indexed" and states[-1]["progress"] == 100, states
    processing = [s for s in states if s["status"] == "processing"]
    assert processing, states
    assert len({s["progress"] for s in processing}) >= 2, states


async def test_markdown_moves_through_processing_with_rising_progress(api, mongo, producer, names):
    user = uuid.uuid4().hex
    doc_id = await upload(api, mongo, producer, names, user, "handbook.md", "text/markdown", markdown_doc(60))
    states = await watch(api, user, doc_id)
    assert_progress_rises(states)
    assert states[-1]["chunks"] > 16  # more than one embedding batch
    listed = api.get("/internal/documents", params={"user_id": user}).json()["items"]
    assert [d["id"] for d in listed] == [doc_id]
    assert listed[0]["chunks"] == states[-1]["chunks"]


async def test_pdf_is_indexed_and_found_by_meaning(api, mongo, producer, names, infra):
    user = uuid.uuid4().hex
    filler = [[f"Page {p}: tide tables and harbour fees for the season, line {i}." for i in range(40)]
              for p in range(6)]  # fmt: skip
    pdf = pdfmaker.make_pdf([LIGHTHOUSE, *filler])
    consumer = AIOKafkaConsumer(
        names["prefix"] + topics.DOCUMENTS_INDEXED.name, bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest", group_id=None,
    )  # fmt: skip
    await consumer.start()
    try:
        doc_id = await upload(api, mongo, producer, names, user, "survey.pdf", "application/pdf", pdf)
        assert_progress_rises(await watch(api, user, doc_id))
        event = await _find_event(consumer, doc_id)
        assert event["status"] == "indexed" and event["chunks"] > 1
    finally:
        await consumer.stop()
    hits = api.get("/internal/search", params={"user_id": user, "q": "Who looks after the beacon?"}).json()
    top = hits["items"][0]
    assert top["type"] == "document" and top["document_id"] == doc_id and top["filename"] == "survey.pdf"
    assert "Ingrid Salo" in top["snippet"]
    # Another user sees nothing of it.
    other = api.get(
        "/internal/search", params={"user_id": uuid.uuid4().hex, "q": "Who keeps the lighthouse?"}
    )
    assert other.status_code == 200 and other.json()["items"] == []
    assert api.get(f"/internal/documents/{doc_id}", params={"user_id": uuid.uuid4().hex}).status_code == 404


async def _find_event(consumer, document_id: str, timeout_s: float = 30) -> dict:
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                body = json.loads(record.value)
                if body.get("document_id") == document_id:
                    return body
    raise AssertionError(f"no DocumentIndexed for {document_id}")


async def test_corrupt_pdf_fails_goes_to_dlq_and_the_next_document_is_indexed(
    api, mongo, producer, names, infra
):
    user = uuid.uuid4().hex
    dlq = AIOKafkaConsumer(
        names["prefix"] + topics.DOCUMENTS_UPLOADED.dlq, bootstrap_servers=infra.kafka_bootstrap_servers,
        auto_offset_reset="earliest", group_id=None,
    )  # fmt: skip
    await dlq.start()
    try:
        bad = await upload(
            api, mongo, producer, names, user, "broken.pdf", "application/pdf", pdfmaker.corrupt_pdf()
        )
        good = await upload(
            api, mongo, producer, names, user, "notes.md", "text/markdown", b"# Notes\n\nAll good."
        )
        failed = (await watch(api, user, bad))[-1]
        assert failed["status"] == "failed"
        assert "corrupt" in failed["error"]
        assert (await watch(api, user, good))[-1]["status"] == "indexed"
        record = await _find_dlq(dlq, bad)
        headers = dict(record.headers)
        assert b"DocumentError" in headers[HEADER_ERROR]
        assert b"corrupt" in headers[HEADER_ERROR]
    finally:
        await dlq.stop()


async def _find_dlq(consumer, document_id: str, timeout_s: float = 30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            for record in records:
                if record.key == document_id.encode():
                    return record
    raise AssertionError(f"{document_id} not in the DLQ")


async def test_delete_removes_the_record_and_its_chunks(api, mongo, producer, names):
    user = uuid.uuid4().hex
    text = b"# Recipes\n\nGrandmother's plum dumplings need semolina, butter and cinnamon sugar."
    doc_id = await upload(api, mongo, producer, names, user, "recipes.md", "text/markdown", text)
    assert (await watch(api, user, doc_id))[-1]["status"] == "indexed"
    params = {"user_id": user, "q": "plum dumplings"}
    assert api.get("/internal/search", params=params).json()["items"]
    assert (
        api.delete(f"/internal/documents/{doc_id}", params={"user_id": uuid.uuid4().hex}).status_code == 404
    )
    assert api.delete(f"/internal/documents/{doc_id}", params={"user_id": user}).status_code == 204
    assert api.get(f"/internal/documents/{doc_id}", params={"user_id": user}).status_code == 404
    assert api.get("/internal/search", params=params).json()["items"] == []


def completed(user, conversation, text, reply, latency_ms=800.0, tokens=(30, 12)) -> ChatCompleted:
    return ChatCompleted(
        conversation_id=conversation, user_id=user, user_message_id=uuid.uuid4().hex,
        assistant_message_id=uuid.uuid4().hex, reply_id=uuid.uuid4().hex, user_content=text,
        assistant_content=reply,
        usage=Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1], latency_ms=latency_ms),
    )  # fmt: skip


async def _publish(producer, names, events):
    for event in events:
        await producer.send_and_wait(
            names["prefix"] + topics.CHAT_COMPLETED.name, event.to_bytes(), key=event.conversation_id.encode()
        )


async def _search_until(api, params, predicate, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while True:
        items = api.get("/internal/search", params=params).json()["items"]
        if predicate(items) or time.monotonic() > deadline:
            return items
        await asyncio.sleep(0.2)


async def test_search_finds_a_past_message_by_meaning_for_its_owner_only(api, producer, names):
    alice, bob = uuid.uuid4().hex, uuid.uuid4().hex
    target = completed(
        alice, "conv-pets", "My dog Rex loves chasing squirrels around the park.", "Sounds fun!"
    )
    noise = [
        completed(alice, "conv-work", "The quarterly revenue report is due on Friday.", "Noted."),
        completed(alice, "conv-food", "Which wine goes well with grilled salmon?", "Try a Riesling."),
    ]
    bob_own = completed(
        bob, "conv-bob", "I need to renew my passport before travelling.", "Check the office hours."
    )
    await _publish(producer, names, [target, *noise, bob_own])
    query = "puppy hunting rodents outdoors"
    assert not set(query.split()) & set(target.user_content.lower().replace(".", "").split())
    items = await _search_until(
        api,
        {"user_id": alice, "q": query},
        lambda items: any(i["conversation_id"] == "conv-pets" for i in items),
    )
    top = items[0]
    assert top["type"] == "message" and top["conversation_id"] == "conv-pets"
    assert top["id"] == target.user_message_id and "Rex" in top["snippet"]
    bob_items = await _search_until(api, {"user_id": bob, "q": query}, lambda items: bool(items))
    assert bob_items and all(i["conversation_id"] == "conv-bob" for i in bob_items)


async def test_daily_stats_count_each_reply_once(api, producer, names):
    user_a, user_b = uuid.uuid4().hex, uuid.uuid4().hex
    before = api.get("/internal/stats", params={"days": 1}).json()["totals"]
    events = [
        completed(user_a, "c1", f"question {i}", "answer", latency_ms=100.0 * (i + 1)) for i in range(9)
    ]
    events.append(completed(user_b, "c2", "hello", "hi", latency_ms=5000.0))
    await _publish(producer, names, [*events, events[0], events[1]])  # two redeliveries
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = api.get("/internal/stats", params={"days": 1}).json()
        if stats["totals"]["replies"] - before["replies"] >= 10:
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)  # the redeliveries, if they were to count, would land by now
    stats = api.get("/internal/stats", params={"days": 1}).json()
    totals, today = stats["totals"], stats["days"][-1]
    assert totals["replies"] - before["replies"] == 10
    assert totals["messages"] - before["messages"] == 20
    assert totals["tokens"] - before["tokens"] == 10 * 42
    assert today["active_users"] >= 2
    assert today["latency_ms"]["p50"] is not None and today["latency_ms"]["p95"] >= today["latency_ms"]["p50"]


async def test_a_deleted_conversation_is_forgotten_and_a_late_turn_is_not_indexed(
    api, mongo, producer, names
):
    user = uuid.uuid4().hex
    kept = completed(user, "conv-garden", "Our garden has three apple trees and a pear tree.", "Lovely.")
    gone = completed(user, "conv-sub", "The submarine crew practised emergency drills at dawn.", "Brave.")
    await _publish(producer, names, [kept, gone])
    params = {"user_id": user, "q": "submarine crew drills"}
    items = await _search_until(
        api, params, lambda items: any(i["conversation_id"] == "conv-sub" for i in items)
    )
    assert any(i["conversation_id"] == "conv-sub" for i in items)

    deleted = ConversationDeleted(conversation_id="conv-sub", user_id=user)
    await producer.send_and_wait(
        names["prefix"] + topics.CONVERSATIONS_DELETED.name, deleted.to_bytes(), key=b"conv-sub"
    )
    items = await _search_until(
        api, params, lambda items: all(i["conversation_id"] != "conv-sub" for i in items)
    )
    assert items and all(i["conversation_id"] == "conv-garden" for i in items), items

    # A turn of the deleted conversation arriving late: handled (its analytics fact appears),
    # but not indexed again.
    late = completed(user, "conv-sub", "The submarine crew surfaced after the drills.", "Good.")
    await _publish(producer, names, [late])
    deadline = time.monotonic() + 30
    while mongo["analytics_replies"].find_one({"_id": late.reply_id}) is None:
        assert time.monotonic() < deadline, "the late turn was never handled"
        await asyncio.sleep(0.2)
    items = api.get("/internal/search", params=params).json()["items"]
    assert all(i["conversation_id"] != "conv-sub" for i in items), items


def test_internal_api_errors(api, dataflow):
    assert httpx.get(dataflow.url + "/internal/documents", params={"user_id": "u1"}).status_code == 401
    wrong = httpx.get(
        dataflow.url + "/internal/documents", params={"user_id": "u1"}, headers={"X-Internal-Token": "x"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    missing_user = api.get("/internal/documents")
    assert missing_user.status_code == 422 and missing_user.json()["error"]["code"] == "validation_error"
    assert api.get("/internal/search", params={"user_id": "u1", "q": "   "}).status_code == 422
    assert api.get("/internal/search", params={"user_id": "u1", "q": "x", "limit": 0}).status_code == 422
    assert api.get("/internal/documents/no-such", params={"user_id": "u1"}).status_code == 404
    assert api.get("/internal/documents/../../x", params={"user_id": "u1"}).status_code == 404
    assert (
        api.post("/internal/documents", params={"user_id": "u1"}, json={"filename": "x"}).status_code == 422
    )
    body = {"document_id": uuid.uuid4().hex, "filename": "a.md", "content_type": "text/markdown", "size": 1,
            "blob_id": "b"}  # fmt: skip
    assert api.post("/internal/documents", params={"user_id": "u1"}, json=body).status_code == 201
    assert api.post("/internal/documents", params={"user_id": "u1"}, json=body).status_code == 200
    taken = api.post("/internal/documents", params={"user_id": "u2"}, json=body)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    assert api.get("/internal/stats", params={"days": 0}).status_code == 422


async def test_a_file_over_the_size_cap_fails_before_parsing_with_its_reason(api, mongo, producer, names):
    user = uuid.uuid4().hex
    huge = b"<p>x</p>" * (21 * 1024 * 1024 // 8)
    document_id = await upload(api, mongo, producer, names, user, "huge.html", "text/html", huge)
    failed = (await watch(api, user, document_id))[-1]
    assert failed["status"] == "failed"
    assert "documents are limited to 20 MiB" in failed["error"], failed


async def _send_with_counts(api, mongo, producer, names, infra, counts: dict, text: bytes) -> dict:
    """Upload a document whose record finds `counts` in MongoDB's delivery counts, as if the
    dataflow had died with it in flight; returns the document's last status event."""
    user, document_id, blob_id = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    GridFSBucket(mongo, "uploads").upload_from_stream_with_id(
        blob_id, "killer.md", text, metadata={"user_id": user, "document_id": document_id}
    )
    body = {"document_id": document_id, "filename": "killer.md", "content_type": "text/markdown",
            "size": len(text), "blob_id": blob_id}  # fmt: skip
    assert api.post("/internal/documents", params={"user_id": user}, json=body).status_code == 201
    topic = names["prefix"] + topics.DOCUMENTS_UPLOADED.name
    # The record will land at the end of one of the two partitions: seed both.
    seeded = []
    for partition in (0, 1):
        end = await _end_offset(infra, topic, partition)
        seeded.append(f"{names['prefix']}dataflow-documents/{topic}/{partition}/{end}")
        mongo["kafka_deliveries"].insert_one({"_id": seeded[-1], **counts})
    try:
        event = DocumentUploaded(user_id=user, **body)
        await producer.send_and_wait(topic, event.to_bytes(), key=document_id.encode())
        return (await watch(api, user, document_id))[-1]
    finally:
        mongo["kafka_deliveries"].delete_many({"_id": {"$in": seeded}})


async def test_a_document_that_crashed_the_indexer_alone_repeatedly_is_set_aside(
    api, mongo, producer, names, infra
):
    # As if the dataflow had died on it once beside others, then three times with it alone.
    counts = {"deliveries": 4, "solo": 3}
    text = b"# Fine\n\nBut it killed the indexer three times alone (as far as the count knows)."
    failed = await _send_with_counts(api, mongo, producer, names, infra, counts, text)
    assert failed["status"] == "failed"
    assert "crashed the indexer repeatedly" in failed["error"], failed


async def test_a_document_in_flight_in_crashes_but_never_alone_is_indexed(api, mongo, producer, names, infra):
    # Three crashes with it in flight beside others: a suspect, run alone, not blamed.
    text = b"# Innocent\n\nIt was only running beside whatever killed the indexer."
    done = await _send_with_counts(api, mongo, producer, names, infra, {"deliveries": 3}, text)
    assert done["status"] == "indexed", done


async def _end_offset(infra, topic: str, partition: int) -> int:
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
