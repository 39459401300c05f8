"""The typed internal clients: each method calls its one endpoint (method, path, query, body, token)
and answers the wire model; a real FastAPI app per service stands in for it (ASGI transport)."""

from datetime import UTC, datetime
from typing import TypeVar

import httpx
import pytest
from alice_backend.dataflow_client import DataflowClient
from alice_backend.errors import ApiError
from alice_backend.internal_client import InternalClient
from alice_backend.kafkaflow_client import KafkaflowClient
from alice_backend.orchestrator_client import OrchestratorClient
from alice_common.admin_wire import (
    DailyStats,
    DlqRecordPage,
    DlqTopicList,
    FlowGraph,
    FlowView,
    ReplayRequest,
    ReplayResult,
)
from alice_common.wire import (
    Conversation,
    ConversationChanges,
    ConversationPage,
    DocumentRegistration,
    Feedback,
    FeedbackGiven,
    FeedbackStats,
    MessagePage,
    ReplyRef,
    SearchResults,
    ServedModels,
    StoredDocument,
    StoredDocumentPage,
)
from fastapi import FastAPI, Request, Response

C = TypeVar("C", bound=InternalClient)
AT = datetime(2026, 1, 1, tzinfo=UTC)
CONVERSATION = Conversation(id="c/1", title="t", created_at=AT, updated_at=AT)
DOCUMENT = StoredDocument(
    id="d1", filename="a.md", content_type="text/markdown", size=3, status="queued", progress=0, chunks=0,
    created_at=AT, updated_at=AT, blob_id="b1",
)  # fmt: skip
GRAPH = {"prefix": "x.", "taken_at": 1.0, "age_s": 0.5, "brokers": 1, "edges": [
    {"from": "service:backend", "to": "topic:chat.requests", "kind": "produces"}], "nodes": [
    {"kind": "service", "id": "service:backend", "name": "backend"}]}  # fmt: skip
REPLAYED = {"replayed": 1, "records": [{"partition": 0, "offset": 3, "target_topic": "chat.requests",
                                        "target_partition": 0, "target_offset": 9}]}  # fmt: skip


def _answers() -> dict[tuple[str, str], object]:
    """What each endpoint answers, by method and raw path (as the client encoded it)."""
    stats = {"days": [], "totals": {"messages": 0, "replies": 0, "tokens": 0, "prompt_tokens": 0,
                                    "completion_tokens": 0}}  # fmt: skip
    page = {"items": [], "next_before": None}
    dlq_page = {"topic": "chat.requests.dlq", "kafka_name": "x.chat.requests.dlq", "total": 0, "records": []}
    conversation = CONVERSATION.model_dump(mode="json")
    reply = {"reply_id": "r1", "conversation_id": "c", "message_id": None, "status": "completed"}
    model = {"model": "m", "context_tokens": 2048, "default_max_tokens": 64, "max_tokens_limit": 100}
    models = {"models": [model | {"default": True}]}
    feedback = {"rating": "up", "comment": "good", "updated_at": "2026-01-01T00:00:00.000Z"}
    feedback_path = "/internal/conversations/c%2F1/messages/r%2F1/feedback"
    return {
        ("GET", "/internal/conversations"): page,
        ("POST", "/internal/conversations"): conversation,
        ("GET", "/internal/conversations/c%2F1"): conversation,
        ("PATCH", "/internal/conversations/c%2F1"): conversation,
        ("DELETE", "/internal/conversations/c%2F1"): None,
        ("GET", "/internal/conversations/c%2F1/messages"): page,
        ("GET", "/internal/replies/r1"): reply,
        ("PUT", feedback_path): feedback,
        ("DELETE", feedback_path): None,
        ("GET", "/internal/feedback/stats"): {"models": [], "latest_comments": []},
        ("GET", "/internal/models"): models,
        ("POST", "/internal/documents"): DOCUMENT.model_dump(mode="json"),
        ("GET", "/internal/documents"): page,
        ("GET", "/internal/documents/d1"): DOCUMENT.model_dump(mode="json"),
        ("DELETE", "/internal/documents/d1"): None,
        ("GET", "/internal/search"): {"query": "q", "items": []},
        ("GET", "/internal/stats"): stats,
        ("GET", "/api/flows"): {**GRAPH, "last_error": None},
        ("POST", "/api/flows/refresh"): GRAPH,
        ("GET", "/api/flows/dlq"): {"items": []},
        ("GET", "/api/flows/dlq/chat.requests.dlq"): dlq_page,
        ("POST", "/api/flows/dlq/chat.requests.dlq/replay"): REPLAYED,
    }


class Recorder:
    """A service's HTTP API: answers from `_answers()` and records every request it gets."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.answers = _answers()
        self.app = FastAPI()

        @self.app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def anything(request: Request) -> Response:
            raw_path = request.scope["raw_path"].decode()
            body = await request.body()
            self.seen.append({
                "method": request.method, "path": raw_path, "query": dict(request.query_params),
                "json": await request.json() if body else None,
                "token": request.headers.get("X-Internal-Token"),
            })  # fmt: skip
            answer = self.answers[(request.method, raw_path)]
            if answer is None:
                return Response(status_code=204)
            return Response(httpx.Response(200, json=answer).content, media_type="application/json")

    def client(self, cls: type[C], name: str) -> C:
        client = cls(name, "http://internal", "tok", 1.0)
        client.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://internal",
            headers={"X-Internal-Token": "tok"},
        )  # fmt: skip
        return client


async def test_orchestrator_methods_call_their_endpoints():
    fake = Recorder()
    orchestrator = fake.client(OrchestratorClient, "orchestrator")
    assert isinstance(await orchestrator.list_conversations("u1", 20, before="c0"), ConversationPage)
    assert await orchestrator.create_conversation("u1", "Hello") == CONVERSATION
    assert await orchestrator.create_conversation("u1") == CONVERSATION
    assert await orchestrator.get_conversation("u1", "c/1") == CONVERSATION
    assert (
        await orchestrator.update_conversation("u1", "c/1", ConversationChanges(title="New")) == CONVERSATION
    )
    assert (
        await orchestrator.update_conversation("u1", "c/1", ConversationChanges(pinned=True)) == CONVERSATION
    )
    assert await orchestrator.delete_conversation("u1", "c/1") is None
    assert isinstance(await orchestrator.list_messages("u1", "c/1", 200), MessagePage)
    assert isinstance(await orchestrator.get_reply("u1", "r1"), ReplyRef)
    given = FeedbackGiven(rating="up", comment="good")
    assert isinstance(await orchestrator.give_feedback("u1", "c/1", "r/1", given), Feedback)
    assert await orchestrator.clear_feedback("u1", "c/1", "r/1") is None
    assert isinstance(await orchestrator.feedback_stats(), FeedbackStats)
    assert isinstance(await orchestrator.list_conversations("u1", 5, archived=True), ConversationPage)
    served = await orchestrator.served_models()
    assert isinstance(served, ServedModels) and served.get("m").default is True
    assert [(s["method"], s["path"], s["query"], s["json"]) for s in fake.seen] == [
        ("GET", "/internal/conversations", {"limit": "20", "before": "c0", "user_id": "u1"}, None),
        ("POST", "/internal/conversations", {"user_id": "u1"}, {"title": "Hello"}),
        ("POST", "/internal/conversations", {"user_id": "u1"}, {}),
        ("GET", "/internal/conversations/c%2F1", {"user_id": "u1"}, None),
        ("PATCH", "/internal/conversations/c%2F1", {"user_id": "u1"}, {"title": "New"}),
        ("PATCH", "/internal/conversations/c%2F1", {"user_id": "u1"}, {"pinned": True}),
        ("DELETE", "/internal/conversations/c%2F1", {"user_id": "u1"}, None),
        ("GET", "/internal/conversations/c%2F1/messages", {"limit": "200", "user_id": "u1"}, None),
        ("GET", "/internal/replies/r1", {"user_id": "u1"}, None),
        (
            "PUT",
            "/internal/conversations/c%2F1/messages/r%2F1/feedback",
            {"user_id": "u1"},
            {"rating": "up", "comment": "good"},
        ),
        ("DELETE", "/internal/conversations/c%2F1/messages/r%2F1/feedback", {"user_id": "u1"}, None),
        ("GET", "/internal/feedback/stats", {}, None),
        ("GET", "/internal/conversations", {"limit": "5", "archived": "true", "user_id": "u1"}, None),
        ("GET", "/internal/models", {}, None),
    ]
    assert {s["token"] for s in fake.seen} == {"tok"}


async def test_dataflow_methods_call_their_endpoints():
    fake = Recorder()
    dataflow = fake.client(DataflowClient, "dataflow")
    registration = DocumentRegistration(
        document_id="d1", filename="a.md", content_type="text/markdown", size=3, blob_id="b1"
    )
    assert await dataflow.register_document("u1", registration) == DOCUMENT
    assert isinstance(await dataflow.list_documents("u1"), StoredDocumentPage)
    assert await dataflow.get_document("u1", "d1") == DOCUMENT
    assert await dataflow.delete_document("u1", "d1") is None
    assert isinstance(await dataflow.search("u1", "q", 5), SearchResults)
    assert isinstance(await dataflow.stats(7), DailyStats)
    assert [(s["method"], s["path"], s["query"], s["json"]) for s in fake.seen] == [
        ("POST", "/internal/documents", {"user_id": "u1"}, registration.model_dump(mode="json")),
        ("GET", "/internal/documents", {"user_id": "u1"}, None),
        ("GET", "/internal/documents/d1", {"user_id": "u1"}, None),
        ("DELETE", "/internal/documents/d1", {"user_id": "u1"}, None),
        ("GET", "/internal/search", {"q": "q", "limit": "5", "user_id": "u1"}, None),
        ("GET", "/internal/stats", {"days": "7"}, None),
    ]


async def test_kafkaflow_methods_call_their_endpoints():
    fake = Recorder()
    kafkaflow = fake.client(KafkaflowClient, "kafkaflow")
    view = await kafkaflow.flows()
    assert isinstance(view, FlowView) and view.edges[0].source == "service:backend"
    assert isinstance(await kafkaflow.refresh_flows(), FlowGraph)
    assert isinstance(await kafkaflow.dlq_topics(), DlqTopicList)
    assert isinstance(await kafkaflow.dlq_records("chat.requests.dlq", 50), DlqRecordPage)
    one = await kafkaflow.replay("chat.requests.dlq", ReplayRequest(partition=0, offset=3))
    assert one == ReplayResult.model_validate(REPLAYED)
    await kafkaflow.replay("chat.requests.dlq", ReplayRequest(all=True))
    assert [(s["method"], s["path"], s["query"], s["json"]) for s in fake.seen] == [
        ("GET", "/api/flows", {}, None),
        ("POST", "/api/flows/refresh", {}, None),
        ("GET", "/api/flows/dlq", {}, None),
        ("GET", "/api/flows/dlq/chat.requests.dlq", {"limit": "50"}, None),
        ("POST", "/api/flows/dlq/chat.requests.dlq/replay", {}, {"partition": 0, "offset": 3}),
        ("POST", "/api/flows/dlq/chat.requests.dlq/replay", {}, {"all": True}),
    ]


async def test_an_answer_that_is_not_the_endpoint_model_is_a_502():
    fake = Recorder()
    fake.answers[("GET", "/api/flows")] = {"nodes": [{"type": "topic", "id": "t"}], "edges": []}
    with pytest.raises(ApiError) as raised:
        await fake.client(KafkaflowClient, "kafkaflow").flows()
    assert (raised.value.status, raised.value.code) == (502, "upstream_error")
