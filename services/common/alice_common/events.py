"""Event contracts (docs/contracts.md, "Events"): one pydantic model per event, JSON on the wire.

Every event carries `event_id`, `type`, `version`, `occurred_at` and `trace_id`. Which topic
carries which event is declared in `alice_common.topics`; a consume loop decodes each record as
its topic's event type. `parse_event` picks the model by `type` (for readers of any topic).
"""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from alice_common.ids import new_id


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    event_id: str = Field(default_factory=new_id)
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    trace_id: str = Field(default_factory=new_id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None


class ChatTurn(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    # `/v1` only: the calls an assistant turn made (OpenAI's `tool_calls`), and the call a `tool`
    # turn answers.
    tool_calls: list[dict] | None = None
    tool_call_id: str | None = None


class CompletionRequest(BaseModel):
    """A stateless OpenAI-compatible request: the model sees `messages` exactly as given (no
    system prompt, history, retrieval or memory of Alice's), and nothing is stored but the reply
    stream. `None` means the orchestrator's default."""

    messages: list[ChatTurn]
    max_tokens: int | None = None
    temperature: float | None = None
    stop: list[str] = Field(default_factory=list)
    # Structured output, tool calling and sampling (docs/decisions/0064-structured-output-and-tools.md),
    # as OpenAI names them and as the backend checked them; all optional, so an older producer's
    # request still reads.
    response_format: dict | None = None
    tools: list[dict] = Field(default_factory=list)
    tool_choice: str | dict | None = None
    parallel_tool_calls: bool = True
    seed: int | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] = Field(default_factory=dict)
    # None: no log probabilities; 0-20: each token's, with that many alternatives.
    top_logprobs: int | None = None


class AttachedFile(BaseModel):
    """A file attached in the composer when the message was sent (its document in the dataflow)."""

    document_id: str
    filename: str


class ChatRequested(Event):
    type: Literal["ChatRequested"] = "ChatRequested"
    conversation_id: str
    user_id: str
    message_id: str
    reply_id: str
    content: str
    use_knowledge: bool | None = None
    # The user's setting: add relevant exchanges from their other conversations to the prompt.
    use_memory: bool = True
    # The message the new user message follows (the end of the branch the user sees); None: the end
    # of the conversation's current branch. Ignored for a message stored already (redelivery).
    parent_id: str | None = None
    # Set when the message is an edited version of this user message: it gets the same parent.
    edit_of: str | None = None
    # Set when the user asked to regenerate the reply to an earlier message.
    regenerate_of: str | None = None
    # Set when the user asked to continue that reply (cut at its length limit): the reply grows,
    # and `reply_id` names this continuation's stream.
    continue_of: str | None = None
    # Set for `/v1/chat/completions`: no conversation, generated from these messages alone.
    completion: CompletionRequest | None = None
    # The model to answer with, by its name in `/internal/models`; None: the default model.
    model: str | None = None
    # Recorded on the user message: the conversation's attachments it was sent with.
    attachments: list[AttachedFile] = Field(default_factory=list)


class ChatCompleted(Event):
    type: Literal["ChatCompleted"] = "ChatCompleted"
    conversation_id: str
    user_id: str
    user_message_id: str
    assistant_message_id: str
    reply_id: str
    user_content: str
    assistant_content: str
    status: Literal["completed", "stopped", "failed"] = "completed"
    model: str = ""
    usage: Usage = Field(default_factory=Usage)
    # An exchange from an imported conversation (docs/decisions/0060-idempotent-import.md): indexed
    # for search and memory like a live one, but not a reply generated here, so not in analytics.
    imported: bool = False


class DocumentUploaded(Event):
    type: Literal["DocumentUploaded"] = "DocumentUploaded"
    document_id: str
    user_id: str
    filename: str
    content_type: str
    size: int
    blob_id: str
    conversation_id: str | None = None  # an attachment: searched only in this conversation


class DocumentIndexed(Event):
    type: Literal["DocumentIndexed"] = "DocumentIndexed"
    document_id: str
    user_id: str
    status: Literal["indexed", "failed"]
    chunks: int = 0
    error: str | None = None


class ConversationDeleted(Event):
    """A user deleted a conversation: services forget what they derived from it (its memory)."""

    type: Literal["ConversationDeleted"] = "ConversationDeleted"
    conversation_id: str
    user_id: str


class UserDeleted(Event):
    """A user deleted their account: every service purges what it holds of them
    (docs/decisions/0059-delete-my-data.md)."""

    type: Literal["UserDeleted"] = "UserDeleted"
    user_id: str


AnyEvent = Annotated[
    ChatRequested | ChatCompleted | DocumentUploaded | DocumentIndexed | ConversationDeleted | UserDeleted,
    Field(discriminator="type"),
]
_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(raw: bytes | str) -> Event:
    """Parse any known event; raises pydantic.ValidationError on bad input."""
    return _adapter.validate_json(raw)
