"""The shapes that cross a service boundary over HTTP, defined once.

The orchestrator's and the dataflow's internal APIs declare these as their `response_model`, the
backend validates what it receives against them and answers its public API with them, so the
public OpenAPI document (and the frontend types generated from it) names exactly what is sent.
"""

from datetime import UTC, datetime
from itertools import pairwise
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from alice_common.events import AttachedFile, ChatTurn, Usage
from alice_common.ids import INTERNAL_ID_PATTERN


def iso_ms(value: datetime) -> str:
    """Millisecond ISO-8601 in UTC (MongoDB keeps milliseconds), so strings order like times."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# A time as every API writes it: UTC, milliseconds, `Z`.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_ms, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

Role = Literal["user", "assistant"]
MessageStatus = Literal["completed", "stopped", "failed"]
DocumentStatus = Literal["queued", "processing", "indexed", "failed"]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    # Pass as `before` to get the next page; null on the last page.
    next_before: str | None = None


MAX_SYSTEM_PROMPT_CHARS = 4000
MAX_REPLY_TOKENS = 32768
MAX_PRESET_NAME_CHARS = 80


class ChatSettings(BaseModel):
    """How a conversation's replies are generated (or what a preset sets); each field null: the
    server's default. `max_tokens` is checked against the model's `max_tokens_limit` too."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(default=None, min_length=1, max_length=128, description="a served model's id")
    system_prompt: str | None = Field(default=None, min_length=1, max_length=MAX_SYSTEM_PROMPT_CHARS)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_REPLY_TOKENS)


class Conversation(BaseModel):
    id: str
    title: str | None = None
    pinned: bool = Field(default=False, description="listed before the others")
    archived: bool = Field(default=False, description="listed only when the list asks for `archived=true`")
    settings: ChatSettings = Field(default_factory=ChatSettings, description="used for every reply in it")
    created_at: Timestamp
    updated_at: Timestamp


class ConversationChanges(BaseModel):
    """A `PATCH` of a conversation: each field optional, at least one given."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: str | None = Field(default=None, min_length=1, max_length=200)
    pinned: bool | None = None
    archived: bool | None = None
    settings: ChatSettings | None = Field(default=None, description="replaces the settings as a whole")

    @model_validator(mode="after")
    def _something_to_change(self) -> "ConversationChanges":
        if self.title is None and self.pinned is None and self.archived is None and self.settings is None:
            raise ValueError("give at least one of `title`, `pinned`, `archived`, `settings`")
        return self

    def changes(self) -> dict:
        return self.model_dump(exclude_none=True)


class Source(BaseModel):
    """A passage of one of the user's documents that the reply was given as context."""

    document_id: str
    filename: str
    chunk: int = Field(description="the passage's position in its document, from 0")
    snippet: str
    score: float = Field(description="cosine similarity of the passage to the message")


FeedbackRating = Literal["up", "down"]
MAX_FEEDBACK_COMMENT_CHARS = 2000


class FeedbackGiven(BaseModel):
    """What the owner of a conversation says about one of its replies."""

    rating: FeedbackRating
    comment: str | None = Field(
        default=None,
        max_length=MAX_FEEDBACK_COMMENT_CHARS,
        description=f"optional, at most {MAX_FEEDBACK_COMMENT_CHARS} characters; blank counts as none",
    )

    def stored(self) -> "FeedbackGiven":
        """Trimmed, a blank comment dropped."""
        comment = (self.comment or "").strip()
        return FeedbackGiven(rating=self.rating, comment=comment or None)


class Feedback(FeedbackGiven):
    updated_at: Timestamp


FinishReason = Literal["stop", "length"]


class Message(BaseModel):
    id: str
    conversation_id: str
    role: Role
    content: str
    status: MessageStatus
    created_at: Timestamp
    reply_id: str | None = Field(default=None, description="user message: the reply requested for it")
    reply_to: str | None = Field(default=None, description="assistant message: the message it answers")
    parent_id: str | None = Field(
        default=None,
        description="where it sits in the conversation's tree: a user message follows this message "
        "(null: it starts the conversation), a reply answers it (its `reply_to`); messages with the "
        "same parent are versions of each other (an edit, a regeneration)",
    )
    sources: list[Source] = Field(default_factory=list)
    attachments: list[AttachedFile] = Field(
        default_factory=list, description="user messages only: the files attached when it was sent"
    )
    usage: Usage | None = Field(default=None, description="assistant messages only")
    model: str | None = Field(default=None, description="assistant messages only")
    feedback: Feedback | None = Field(default=None, description="assistant messages only: the owner's rating")
    finish_reason: FinishReason | None = Field(
        default=None,
        description="assistant messages only: `length` when the reply reached its length limit "
        "(it can be continued), `stop` when the model ended it; null when its user stopped it, "
        "and for replies stored before this was recorded",
    )
    left_out_turns: int | None = Field(
        default=None,
        ge=1,
        description="assistant messages only: earlier turns of the conversation left out of the "
        "model's prompt because they did not fit its context (the web app says so under the reply); "
        "null when none were",
    )


class ConversationPage(Page[Conversation]):
    pass


class MessagePage(Page[Message]):
    pass


class BranchMessage(Message):
    siblings: list[str] = Field(
        description="the versions of this message: the ids of the messages with its parent and role, "
        "oldest first, itself included (the web app's `2 / 3`)"
    )


class BranchPage(BaseModel):
    """One branch of a conversation's tree: a path of messages, each the parent of the next."""

    items: list[BranchMessage] = Field(description="oldest first, each the parent of the next")
    next_before: str | None = Field(
        default=None,
        description="the first message of `items`, when the path goes on above it: pass as `before`",
    )
    leaf_id: str | None = Field(
        description="the end of the path: where the branch ends, or with `before` that message's parent; "
        "null for an empty path"
    )


class BranchChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(
        pattern=INTERNAL_ID_PATTERN,
        description="the message to show: the branch goes through it and on to its newest messages",
    )


class ReplyRef(BaseModel):
    """A stored reply, as the backend needs it to check ownership, regenerate and continue it."""

    reply_id: str
    conversation_id: str
    message_id: str | None = Field(description="the user message it answers")
    status: MessageStatus
    finish_reason: FinishReason | None = None


ReplyState = Literal["queued", "generating"]


def left_out_when_absent(schema: dict) -> None:
    """An optional field sent only with a value (`exclude_none`): no null, no default, in its schema."""
    schema.pop("default", None)
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if branches:
        schema.update(branches[0])


class ReplyStatus(BaseModel):
    """The data of the reply stream's `status` event (docs/api.md, "Reply stream")."""

    state: ReplyState = Field(
        description="`queued`: accepted, waiting for the model; `generating`: the model is writing the reply"
    )
    position: int | None = Field(
        default=None,
        ge=1,
        description="while `queued` for a busy model: the reply's place in line, 1 = next "
        "(among the replies of the orchestrator process that serves it); absent otherwise",
        json_schema_extra=left_out_when_absent,
    )

    def data(self) -> dict:
        """The event's JSON data, without the absent position."""
        return self.model_dump(exclude_none=True)


class ModelFeedback(BaseModel):
    model: str = Field(description="the model that wrote the rated replies")
    up: int
    down: int
    up_share: float = Field(ge=0, le=1, description="up / (up + down)")


class FeedbackComment(BaseModel):
    model: str
    rating: FeedbackRating
    comment: str
    updated_at: Timestamp


class FeedbackStats(BaseModel):
    """`GET /internal/feedback/stats`: the ratings of every user's replies, for admins."""

    models: list[ModelFeedback] = Field(description="the most rated model first")
    latest_comments: list[FeedbackComment] = Field(description="newest first")


class ModelInfo(BaseModel):
    """One model the orchestrator serves (`GET /internal/models`): its name and the bounds
    `/v1/chat/completions` checks requests for it against."""

    model: str
    context_tokens: int
    default_max_tokens: int
    max_tokens_limit: int
    default: bool = Field(default=False, description="the model a request naming none is answered by")
    available: bool = Field(default=True, description="its endpoint answered the last health probe")


class ServedModels(BaseModel):
    """`GET /internal/models`: the default model first, then the others (`LLM_MODELS`)."""

    models: list[ModelInfo] = Field(min_length=1)

    def get(self, name: str) -> ModelInfo | None:
        return next((m for m in self.models if m.model == name), None)


class PromptSizeRequest(BaseModel):
    """`POST /internal/models/prompt-size`: would these messages and this reply fit the model?"""

    model: str = Field(max_length=200)
    messages: list[ChatTurn] = Field(min_length=1, max_length=500)
    max_tokens: int | None = Field(default=None, ge=1, description="None: the model's default")


class PromptSize(BaseModel):
    """The prompt's tokens as the model counts them (with each message's template overhead);
    the request is answered 400 `context_length_exceeded` instead when they do not fit."""

    prompt_tokens: int
    context_tokens: int
    max_tokens: int


class EmbeddingModel(BaseModel):
    """The dataflow's embedding model (`GET /internal/embeddings/model`), as `/v1` names it."""

    model: str
    dim: int
    max_input_tokens: int = Field(description="longer inputs are refused, never cut")


class EmbeddingsRequest(BaseModel):
    """`POST /internal/embeddings`: texts to embed (the backend bounds their count and length)."""

    texts: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=2048)


class Embeddings(BaseModel):
    """Unit-length vectors, one per text in order, and each text's model tokens."""

    model: str
    vectors: list[list[float]]
    tokens: list[int]


class Document(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    status: DocumentStatus
    progress: int = Field(ge=0, le=100, description="0 to 100; 0 while `queued`")
    position: int | None = Field(
        default=None,
        ge=1,
        description="while `queued` behind other documents: its place in line, 1 = next (documents "
        "of different users take turns; among those of the dataflow process that serves it); "
        "null otherwise",
    )
    chunks: int
    error: str | None = Field(default=None, description="why indexing failed, for the user")
    conversation_id: str | None = Field(
        default=None,
        description="set for a file attached in a conversation's composer: only that conversation's "
        "replies use it, until it is added to the library (then null)",
    )
    created_at: Timestamp
    updated_at: Timestamp


class StoredDocument(Document):
    """The dataflow's record: what the backend sees of it, and the upload blob it owns."""

    blob_id: str

    def public(self) -> Document:
        return Document.model_validate(self.model_dump(exclude={"blob_id"}))


class DocumentRegistration(BaseModel):
    """The backend registers an upload with the dataflow before announcing it."""

    document_id: str = Field(pattern=INTERNAL_ID_PATTERN)
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=128)
    size: int = Field(ge=0)
    blob_id: str = Field(min_length=1, max_length=128)
    conversation_id: str | None = Field(default=None, pattern=INTERNAL_ID_PATTERN)


class DocumentPage(Page[Document]):
    pass


class StoredDocumentPage(Page[StoredDocument]):
    pass


class MessageHit(BaseModel):
    type: Literal["message"] = "message"
    id: str
    conversation_id: str
    role: Role
    created_at: Timestamp | None = None
    snippet: str
    score: float
    similarity: float


class DocumentHit(BaseModel):
    type: Literal["document"] = "document"
    id: str
    document_id: str
    filename: str
    chunk_index: int
    snippet: str
    score: float
    similarity: float


SearchHit = Annotated[MessageHit | DocumentHit, Field(discriminator="type")]


class SearchResults(BaseModel):
    query: str
    items: list[SearchHit]


# -- export and import of conversations (docs/api.md "Export and import") ------------------------
ARCHIVE_FORMAT = "alice.conversations"
ARCHIVE_VERSION = 1
# Longest message content a file may carry: replies can be longer than what a user may send.
MAX_ARCHIVED_MESSAGE_CHARS = 100_000


def _time_text(value: object) -> object:
    if isinstance(value, str | datetime):
        return value
    raise ValueError("expected an ISO-8601 time")


# The archive's models are strict (a file's type error is refused, not guessed), but a time is
# read from its ISO text: a JSON body is validated as Python data, where strict would want a datetime.
ArchiveTime = Annotated[Timestamp, Field(strict=False), BeforeValidator(_time_text)]
STRICT_ARCHIVE = ConfigDict(extra="forbid", strict=True)


class ArchivedFeedback(BaseModel):
    model_config = STRICT_ARCHIVE

    rating: FeedbackRating
    comment: str | None = Field(default=None, max_length=MAX_FEEDBACK_COMMENT_CHARS)
    updated_at: ArchiveTime


class ArchivedMessage(BaseModel):
    """One message of an exported conversation. `id` is informative: an import gives new ids."""

    model_config = STRICT_ARCHIVE

    id: str | None = Field(default=None, max_length=64, description="ignored on import")
    role: Role
    content: str = Field(max_length=MAX_ARCHIVED_MESSAGE_CHARS)
    status: MessageStatus = "completed"
    created_at: ArchiveTime
    model: str | None = Field(default=None, max_length=200, description="assistant messages only")
    feedback: ArchivedFeedback | None = Field(default=None, description="assistant messages only")
    parent_id: str | None = Field(
        default=None,
        max_length=64,
        description="the `id` of the message it follows (or, a reply, answers), listed before it; in a "
        "file where no message has one, a user message follows the newest reply before it and a reply "
        "answers the user message before it",
    )

    @model_validator(mode="after")
    def _reply_fields_on_replies(self) -> "ArchivedMessage":
        if self.role == "user" and (self.model is not None or self.feedback is not None):
            raise ValueError("only assistant messages have a `model` or `feedback`")
        return self


class ArchivedConversation(BaseModel):
    model_config = STRICT_ARCHIVE

    id: str | None = Field(
        default=None,
        max_length=64,
        description="not kept on import; the same id imported again by the same user is already present",
    )
    title: str | None = Field(default=None, max_length=200)
    pinned: bool = False
    archived: bool = False
    settings: ChatSettings = Field(
        default_factory=ChatSettings,
        description="its chat settings; on import, a model this server does not serve is left out",
    )
    created_at: ArchiveTime
    updated_at: ArchiveTime
    messages: list[ArchivedMessage] = Field(description="oldest first")

    @model_validator(mode="after")
    def _messages_in_time_order(self) -> "ArchivedConversation":
        times = [iso_ms(m.created_at) for m in self.messages]  # naive counts as UTC, as stored
        if any(later < earlier for earlier, later in pairwise(times)):
            raise ValueError("messages must be listed oldest first")
        return self

    @model_validator(mode="after")
    def _parents_listed_before(self) -> "ArchivedConversation":
        roles: dict[str, str] = {}
        for message in self.messages:
            parent = message.parent_id
            if parent is not None and parent not in roles:
                raise ValueError(f"parent_id {parent[:64]!r} is not the id of a message listed before it")
            if message.role == "assistant" and parent is not None and roles[parent] != "user":
                raise ValueError("a reply's parent_id must name a user message")
            if message.id is not None:
                roles[message.id] = message.role
        return self

    def has_tree(self) -> bool:
        """Exported with the messages' tree (else each follows the one before, as before the tree)."""
        return any(m.parent_id is not None for m in self.messages)


class ConversationArchive(BaseModel):
    """Alice's export file (`format`, `version`), and what an import takes back."""

    model_config = STRICT_ARCHIVE

    format: Literal["alice.conversations"]
    version: Literal[1]
    exported_at: ArchiveTime | None = None
    conversations: list[ArchivedConversation]

    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.conversations)


class ArchivePage(BaseModel):
    """`GET /internal/conversations/export`: whole conversations, oldest created first."""

    items: list[ArchivedConversation]
    # Pass as `after` to get the next page; null on the last page.
    next_after: str | None = None
    total: int = Field(description="how many conversations the user has in all")


class ImportedConversations(BaseModel):
    """What an import did with each conversation of the file, in the file's order: created, or
    already present (imported before by the same user, docs/decisions/0060-idempotent-import.md)."""

    conversations: list[Conversation] = Field(description="the conversations this import created")
    already_present: list[Conversation] = Field(
        default_factory=list,
        description="the caller's conversations imported before from the same exported conversations, "
        "left as they are",
    )


# -- shared links (docs/decisions/0058-shared-links.md) -----------------------------------------

TOKEN_SHA256_PATTERN = r"^[0-9a-f]{64}$"


class ShareCreate(BaseModel):
    """`POST /internal/conversations/{id}/shares`: the backend makes the token and sends only its
    hash, so the orchestrator never holds a live link either."""

    token_sha256: str = Field(pattern=TOKEN_SHA256_PATTERN)


class Share(BaseModel):
    """One link to a snapshot of a conversation, as its owner sees it (never the token)."""

    id: str
    conversation_id: str
    title: str | None = None
    created_at: Timestamp
    message_count: int = Field(description="messages in the snapshot")


class ShareList(BaseModel):
    items: list[Share] = Field(description="newest first")


class SharedMessage(BaseModel):
    role: Role
    content: str
    created_at: Timestamp


class SharedConversation(BaseModel):
    """What anyone with the link reads: the conversation as it was when shared, and nothing of
    the account (no ids, no e-mail, no feedback)."""

    title: str | None = None
    shared_at: Timestamp
    messages: list[SharedMessage] = Field(description="oldest first")


class PresetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_PRESET_NAME_CHARS)
    settings: ChatSettings
    published: bool = Field(default=False, description="shown to everyone, read-only (admins only)")


class PresetChanges(BaseModel):
    """A `PATCH` of a preset: rename it, change its settings or (admins) publish it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: str | None = Field(default=None, min_length=1, max_length=MAX_PRESET_NAME_CHARS)
    settings: ChatSettings | None = None
    published: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> "PresetChanges":
        if self.name is None and self.settings is None and self.published is None:
            raise ValueError("give at least one of `name`, `settings`, `published`")
        return self


class Preset(BaseModel):
    id: str
    name: str
    settings: ChatSettings
    published: bool = Field(description="shown to every user")
    mine: bool = Field(description="the caller made it (and may change it); false: published by an admin")
    created_at: Timestamp
    updated_at: Timestamp


class PresetList(BaseModel):
    items: list[Preset] = Field(description="the caller's presets by name, then those published by others")
