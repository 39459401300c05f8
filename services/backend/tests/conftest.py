"""Backend unit-test fixtures: the app in-process against real Redis, MongoDB and Kafka (from the
`infra` fixture), with the orchestrator and dataflow replaced by small in-process fakes."""

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import openai
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from alice_backend.main import create_app
from alice_backend.settings import Settings
from alice_common import topics
from alice_common.errors import ApiError, install_error_handlers
from alice_common.ids import new_id
from alice_common.internal_auth import internal_token_guard
from alice_common.startup import wait_started
from alice_common.wire import (
    ArchivedConversation,
    ArchivePage,
    BranchChoice,
    BranchPage,
    ChatSettings,
    Conversation,
    ConversationArchive,
    ConversationChanges,
    ConversationPage,
    EmbeddingModel,
    Embeddings,
    Feedback,
    FeedbackComment,
    FeedbackGiven,
    FeedbackStats,
    ImportedConversations,
    ModelFeedback,
    ModelInfo,
    Preset,
    PresetChanges,
    PresetIn,
    PresetList,
    PromptSize,
    PromptSizeRequest,
    ReplyRef,
    SearchResults,
    ServedModels,
    Share,
    ShareCreate,
    SharedConversation,
    SharedMessage,
    ShareList,
    StoredDocument,
    StoredDocumentPage,
)
from devstack.testing import unique_name
from fastapi import Depends, FastAPI
from pydantic import SecretStr

TOKEN = SecretStr(os.environ["ALICE_INTERNAL_TOKEN"])  # the session's (root conftest.py)
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def _internal_app() -> FastAPI:
    """An internal API as the real services build one: the shared token guard and error shape."""
    app = FastAPI(dependencies=[Depends(internal_token_guard(TOKEN))])
    install_error_handlers(app)
    return app


class FakeOrchestrator:
    """The orchestrator's internal API, answering with the shared wire models it declares."""

    def __init__(self) -> None:
        self.conversations: dict[str, tuple[str, Conversation]] = {}  # id -> (owner, conversation)
        self.replies: dict[str, tuple[str, str]] = {}  # reply id -> (owner, conversation id)
        self.feedback: dict[str, Feedback] = {}  # reply id -> its feedback
        self.stored_replies: dict[str, tuple[str, ReplyRef]] = {}  # reply id -> (owner, the reply)
        self.messages: dict[str, list] = {}  # conversation id -> its ArchivedMessages
        self.imports: list[tuple[str, ConversationArchive]] = []  # (user id, archive) as received
        # token hash -> (owner, the share, its snapshot)
        self.shares: dict[str, tuple[str, Share, SharedConversation]] = {}
        self.calls: list[tuple[str, str]] = []
        self.presets: dict[str, tuple[str, Preset]] = {}  # id -> (owner, the preset as its owner sees it)
        self.unavailable: set[str] = set()  # models whose endpoint is down
        app = _internal_app()

        def owned(cid: str, user_id: str) -> Conversation:
            owner, conversation = self.conversations.get(cid, (None, None))
            if owner != user_id:
                raise ApiError(404, "conversation_not_found", "no such conversation")
            return conversation

        @app.post("/internal/conversations", status_code=201, response_model=Conversation)
        async def create(user_id: str, body: dict) -> Conversation:
            conversation = Conversation(
                id=new_id(),
                title=body.get("title") or "New chat",
                settings=ChatSettings(**body.get("settings", {})),
                created_at=CREATED,
                updated_at=CREATED,
            )
            self.conversations[conversation.id] = (user_id, conversation)
            return conversation

        def owned_reply(cid: str, rid: str, user_id: str) -> str:
            owned(cid, user_id)
            if self.replies.get(rid) != (user_id, cid):
                raise ApiError(404, "reply_not_found", "no such reply in this conversation")
            return rid

        @app.get("/internal/conversations", response_model=ConversationPage)
        async def list_(user_id: str, archived: bool = False) -> ConversationPage:
            mine = [c for owner, c in self.conversations.values() if owner == user_id]
            return ConversationPage(items=[c for c in mine if c.archived == archived])

        def archived(conversation: Conversation) -> ArchivedConversation:
            fields = conversation.model_dump(exclude={"id", "settings"})
            return ArchivedConversation(
                id=conversation.id,
                settings=conversation.settings,
                **fields,
                messages=self.messages.get(conversation.id, []),
            )

        @app.get("/internal/conversations/export", response_model=ArchivePage)
        async def export_page(user_id: str, limit: int = 10, after: str | None = None) -> ArchivePage:
            mine = [c for owner, c in self.conversations.values() if owner == user_id]
            start = 0 if after is None else [c.id for c in mine].index(after) + 1
            page = mine[start : start + limit]
            next_after = page[-1].id if len(page) == limit else None
            return ArchivePage(items=[archived(c) for c in page], next_after=next_after, total=len(mine))

        @app.get("/internal/conversations/{cid}/export", response_model=ArchivedConversation)
        async def export_one(cid: str, user_id: str) -> ArchivedConversation:
            return archived(owned(cid, user_id))

        @app.post("/internal/conversations/import", status_code=201, response_model=ImportedConversations)
        async def import_(user_id: str, body: ConversationArchive) -> ImportedConversations:
            self.imports.append((user_id, body))
            created = []
            for given in body.conversations:
                fields = given.model_dump(exclude={"id", "messages"})
                conversation = Conversation(id=new_id(), **fields)
                self.conversations[conversation.id] = (user_id, conversation)
                self.messages[conversation.id] = given.messages
                created.append(conversation)
            return ImportedConversations(conversations=created)

        @app.patch("/internal/conversations/{cid}", response_model=Conversation)
        async def update(cid: str, user_id: str, body: ConversationChanges) -> Conversation:
            changed = Conversation.model_validate(owned(cid, user_id).model_dump() | body.changes())
            self.conversations[cid] = (user_id, changed)
            return changed

        # No messages are stored here: every branch is empty (the tree is the orchestrator's tests').
        @app.get("/internal/conversations/{cid}/branch", response_model=BranchPage)
        async def get_branch(cid: str, user_id: str) -> BranchPage:
            owned(cid, user_id)
            return BranchPage(items=[], leaf_id=None)

        @app.put("/internal/conversations/{cid}/branch", response_model=BranchPage)
        async def choose_branch(cid: str, user_id: str, body: BranchChoice) -> BranchPage:
            owned(cid, user_id)
            raise ApiError(404, "message_not_found", "no such message in this conversation")

        feedback_path = "/internal/conversations/{cid}/messages/{rid}/feedback"

        @app.put(feedback_path, response_model=Feedback)
        async def give_feedback(cid: str, rid: str, user_id: str, body: FeedbackGiven) -> Feedback:
            feedback = Feedback(**body.stored().model_dump(), updated_at=CREATED)
            self.feedback[owned_reply(cid, rid, user_id)] = feedback
            return feedback

        @app.delete(feedback_path, status_code=204)
        async def clear_feedback(cid: str, rid: str, user_id: str) -> None:
            self.feedback.pop(owned_reply(cid, rid, user_id), None)

        @app.get("/internal/feedback/stats", response_model=FeedbackStats)
        async def feedback_stats() -> FeedbackStats:
            comment = FeedbackComment(model="test-model", rating="down", comment="wrong", updated_at=CREATED)
            return FeedbackStats(
                models=[ModelFeedback(model="test-model", up=3, down=1, up_share=0.75)],
                latest_comments=[comment],
            )

        @app.post("/internal/conversations/{cid}/shares", status_code=201, response_model=Share)
        async def create_share(cid: str, user_id: str, body: ShareCreate) -> Share:
            conversation = owned(cid, user_id)
            kept = [
                SharedMessage(**m.model_dump(include={"role", "content", "created_at"}))
                for m in self.messages.get(cid, [])
            ]
            share = Share(
                id=new_id(),
                conversation_id=cid,
                title=conversation.title,
                created_at=CREATED,
                message_count=len(kept),
            )
            self.shares[body.token_sha256] = (
                user_id,
                share,
                SharedConversation(title=conversation.title, shared_at=CREATED, messages=kept),
            )
            return share

        @app.get("/internal/conversations/{cid}/shares", response_model=ShareList)
        async def list_shares(cid: str, user_id: str) -> ShareList:
            owned(cid, user_id)
            return ShareList(items=[s for owner, s, _ in self.shares.values() if s.conversation_id == cid])

        @app.delete("/internal/shares/{share_id}", status_code=204)
        async def revoke_share(share_id: str, user_id: str) -> None:
            for key, (owner, share, _) in list(self.shares.items()):
                if share.id == share_id and owner == user_id:
                    del self.shares[key]
                    return
            raise ApiError(404, "share_not_found", "no such link")

        @app.get("/internal/shared/{token_sha256}", response_model=SharedConversation)
        async def read_shared(token_sha256: str) -> SharedConversation:
            self.calls.append(("SHARED", token_sha256))
            if token_sha256 not in self.shares:
                raise ApiError(404, "share_not_found", "this link was revoked or does not exist")
            return self.shares[token_sha256][2]

        @app.get("/internal/conversations/{cid}", response_model=Conversation)
        async def get(cid: str, user_id: str) -> Conversation:
            self.calls.append(("GET", cid))
            return owned(cid, user_id)

        @app.delete("/internal/conversations/{cid}", status_code=204)
        async def delete(cid: str, user_id: str) -> None:
            owned(cid, user_id)
            self.calls.append(("DELETE", cid))
            del self.conversations[cid]

        @app.post("/internal/models/prompt-size", response_model=PromptSize)
        async def prompt_size(body: PromptSizeRequest) -> PromptSize:
            # A word is a token here; the real count is the orchestrator's (its own tests).
            context, max_tokens = 2048, body.max_tokens or 64
            tokens = sum(len(turn.content.split()) + 4 for turn in body.messages)
            if tokens + max_tokens + 16 > context:
                raise ApiError(400, "context_length_exceeded", f"maximum context length is {context} tokens")
            return PromptSize(prompt_tokens=tokens, context_tokens=context, max_tokens=max_tokens)

        @app.get("/internal/models", response_model=ServedModels)
        async def models() -> ServedModels:
            default = ModelInfo(
                model="test-model",
                context_tokens=2048,
                default_max_tokens=64,
                max_tokens_limit=100,
                default=True,
                available="test-model" not in self.unavailable,
            )
            # One LLM_MODELS entry, with larger limits than the default's.
            second = ModelInfo(
                model="org/second-model",
                context_tokens=8192,
                default_max_tokens=256,
                max_tokens_limit=4096,
                available="org/second-model" not in self.unavailable,
            )
            return ServedModels(models=[default, second])

        def visible_preset(pid: str, user_id: str) -> Preset:
            owner, preset = self.presets.get(pid, (None, None))
            if preset is None or (owner != user_id and not preset.published):
                raise ApiError(404, "preset_not_found", "no such preset")
            return preset.model_copy(update={"mine": owner == user_id})

        def own_preset(pid: str, user_id: str) -> Preset:
            preset = visible_preset(pid, user_id)
            if not preset.mine:
                raise ApiError(403, "preset_read_only", "this preset is published by an administrator")
            return preset

        @app.get("/internal/presets", response_model=PresetList)
        async def list_presets(user_id: str) -> PresetList:
            return PresetList(
                items=[visible_preset(pid, user_id) for pid in self.presets if self._sees(pid, user_id)]
            )

        @app.get("/internal/presets/{pid}", response_model=Preset)
        async def get_preset(pid: str, user_id: str) -> Preset:
            return visible_preset(pid, user_id)

        @app.post("/internal/presets", status_code=201, response_model=Preset)
        async def create_preset(user_id: str, body: PresetIn) -> Preset:
            preset = Preset(
                **body.model_dump(), id=new_id(), mine=True, created_at=CREATED, updated_at=CREATED
            )
            self.presets[preset.id] = (user_id, preset)
            return preset

        @app.patch("/internal/presets/{pid}", response_model=Preset)
        async def update_preset(pid: str, user_id: str, body: PresetChanges) -> Preset:
            changed = own_preset(pid, user_id).model_copy(update=body.model_dump(exclude_none=True))
            changed = Preset.model_validate(changed.model_dump())
            self.presets[pid] = (user_id, changed)
            return changed

        @app.delete("/internal/presets/{pid}", status_code=204)
        async def delete_preset(pid: str, user_id: str) -> None:
            own_preset(pid, user_id)
            del self.presets[pid]

        @app.get("/internal/replies/{rid}", response_model=ReplyRef)
        async def reply(rid: str, user_id: str) -> ReplyRef:
            owner, stored = self.stored_replies.get(rid, (None, None))
            if owner != user_id:
                raise ApiError(404, "reply_not_found", "no such reply")
            return stored

        self.app = app

    def _sees(self, pid: str, user_id: str) -> bool:
        owner, preset = self.presets[pid]
        return owner == user_id or preset.published


class FakeDataflow:
    """The dataflow's internal API, answering with the shared wire models it declares."""

    def __init__(self) -> None:
        self.registered: list[dict] = []
        self.documents: dict[str, tuple[str, StoredDocument]] = {}  # id -> (owner, record)
        self.searches = 0
        self.embedded: list[tuple[str, list[str]]] = []
        app = _internal_app()

        @app.post("/internal/documents", status_code=201, response_model=StoredDocument)
        async def register(user_id: str, body: dict) -> StoredDocument:
            self.registered.append({"user_id": user_id, **body})
            stored = StoredDocument(
                id=body["document_id"], filename=body["filename"], content_type=body["content_type"],
                size=body["size"], blob_id=body["blob_id"], status="queued", progress=0, chunks=0,
                conversation_id=body.get("conversation_id"), created_at=CREATED, updated_at=CREATED,
            )  # fmt: skip
            self.documents[stored.id] = (user_id, stored)
            return stored

        def listed(user_id: str, conversation_id: str | None) -> list[StoredDocument]:
            return [
                d
                for owner, d in self.documents.values()
                if owner == user_id and d.conversation_id == conversation_id
            ]

        @app.get("/internal/documents", response_model=StoredDocumentPage)
        async def list_(user_id: str, conversation_id: str | None = None) -> StoredDocumentPage:
            return StoredDocumentPage(items=listed(user_id, conversation_id))

        @app.post("/internal/documents/{document_id}/library", response_model=StoredDocument)
        async def add_to_library(document_id: str, user_id: str) -> StoredDocument:
            owner, doc = self.documents.get(document_id, (None, None))
            if owner != user_id:
                raise ApiError(404, "not_found", "document not found")
            doc = doc.model_copy(update={"conversation_id": None})
            self.documents[document_id] = (owner, doc)
            return doc

        @app.get("/internal/search", response_model=SearchResults)
        async def search(user_id: str, q: str, limit: int = 10) -> SearchResults:
            self.searches += 1
            return SearchResults(query=q, items=[])

        @app.get("/internal/embeddings/model", response_model=EmbeddingModel)
        async def embedding_model() -> EmbeddingModel:
            return EmbeddingModel(model="all-MiniLM-L6-v2", dim=4, max_input_tokens=254)

        @app.post("/internal/embeddings", response_model=Embeddings)
        async def embed(user_id: str, body: dict) -> Embeddings:
            self.embedded.append((user_id, body["texts"]))
            # Exact in float32, so a base64 answer decodes to the very same numbers.
            vectors = [[0.5, -0.25, 0.125, float(i)] for i, _ in enumerate(body["texts"])]
            return Embeddings(model="all-MiniLM-L6-v2", vectors=vectors, tokens=[3] * len(vectors))

        self.app = app


@pytest.fixture
def settings(infra) -> Settings:
    run = unique_name("backend")  # the session's cleanup removes what is named with it
    return Settings(
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        kafka_topic_prefix=f"{infra.kafka_topic_prefix}{run}.",
        kafka_topic_partitions=1,
        redis_url=infra.redis_url,
        mongodb_url=infra.mongodb_url,
        mongodb_database=run,
        max_upload_bytes=64 * 1024,
        max_message_chars=100,
        # Isolated clients (port 0 = unreachable) unless a test swaps in a fake.
        orchestrator_url="http://127.0.0.1:9",
        dataflow_url="http://127.0.0.1:9",
        kafkaflow_url="http://127.0.0.1:9",
        internal_timeout_s=1.0,
        # Every test registers from 127.0.0.1; the per-address limits have their own test.
        register_rate_per_ip_capacity=10_000,
        register_rate_per_ip_per_s=10_000,
        login_rate_per_ip_capacity=10_000,
        login_rate_per_ip_per_s=10_000,
    )


@pytest.fixture
async def redis(infra) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(infra.redis_url, decode_responses=True)
    yield client
    await client.aclose()


class Backend:
    def __init__(
        self, app, client: httpx.AsyncClient, orchestrator: FakeOrchestrator, dataflow: FakeDataflow
    ):
        self.app = app
        self.client = client
        self.orchestrator = orchestrator
        self.dataflow = dataflow

    @staticmethod
    def bearer(auth: dict) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth['access_token']}"}

    @property
    def ctx(self):
        return self.app.state.ctx

    async def published_chat_requests(self, at_least: int = 1) -> list:
        return await self.published(topics.CHAT_REQUESTS, at_least)

    async def published(self, topic: topics.Topic, at_least: int = 1) -> list:
        """The records this test's backend published to `topic` (its own topic prefix), read
        until there are `at_least` of them."""
        settings = self.ctx.settings
        consumer = AIOKafkaConsumer(
            settings.topic(topic.name),
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        found: list = []
        try:
            while len(found) < at_least:
                batch = await consumer.getmany(timeout_ms=10_000)
                assert batch, f"{len(found)} of {at_least} records arrived on {topic.name}"
                found += [record for records in batch.values() for record in records]
        finally:
            await consumer.stop()
        return found

    async def register(self, email: str | None = None, password: str = "correct horse battery") -> dict:
        email = email or f"u{uuid.uuid4().hex[:8]}@example.com"
        response = await self.client.post("/api/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def backend(settings) -> AsyncIterator[Backend]:
    app = create_app(settings)
    orchestrator, dataflow = FakeOrchestrator(), FakeDataflow()
    async with app.router.lifespan_context(app):
        await wait_started(app)
        ctx = app.state.ctx
        for client, fake in ((ctx.orchestrator, orchestrator), (ctx.dataflow, dataflow)):
            await client.http.aclose()
            client.http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=fake.app),
                base_url="http://internal",
                headers={"X-Internal-Token": settings.alice_internal_token.get_secret_value()},
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            yield Backend(app, client, orchestrator, dataflow)
        mongo = ctx.db.client
        await mongo.drop_database(settings.mongodb_database)


@pytest.fixture
async def user(backend) -> dict:
    """A registered user with an API key (`key`), as a program using /v1 has."""
    auth = await backend.register()
    created = await backend.client.post("/api/keys", headers=backend.bearer(auth), json={"name": "sdk"})
    return {"id": auth["user"]["id"], "key": created.json()["secret"], "auth": auth}


@pytest.fixture
def sdk_key(user) -> str:
    """The API key `sdk` sends (a module overrides it to use another key)."""
    return user["key"]


@pytest.fixture
async def sdk(backend, sdk_key) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official openai SDK pointed at the in-process backend's /v1, without retries."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=backend.app), base_url="http://backend")
    client = openai.AsyncOpenAI(
        api_key=sdk_key, base_url="http://backend/v1", http_client=http, max_retries=0
    )
    yield client
    await client.close()
