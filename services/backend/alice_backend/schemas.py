"""Public request and response models (the OpenAPI contract documented in docs/api.md)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class StrictIn(BaseModel):
    # No coercion (0 is not false, "1" is not true): a client's type error is a 422, not a guess.
    model_config = ConfigDict(extra="forbid", strict=True)


# --- accounts ---------------------------------------------------------------------------


class UserSettings(BaseModel):
    memory_enabled: bool = True


class UserOut(BaseModel):
    id: str
    email: str
    display_name: str
    created_at: datetime
    is_admin: bool
    settings: UserSettings


class RegisterIn(StrictIn):
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, min_length=1, max_length=100)


class LoginIn(StrictIn):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(StrictIn):
    refresh_token: str | None = Field(default=None, max_length=200)


class AuthOut(BaseModel):
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class UserSettingsPatch(StrictIn):
    memory_enabled: bool | None = None


class MePatch(StrictIn):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    settings: UserSettingsPatch | None = None


# --- conversations and messages ---------------------------------------------------------


class Conversation(BaseModel):
    id: str
    title: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ConversationList(BaseModel):
    items: list[Conversation]
    # Pass as `before` to get the next page; null on the last page.
    next_before: str | None = None


class ConversationCreate(StrictIn):
    title: str | None = Field(default=None, max_length=200)


class ConversationPatch(StrictIn):
    title: str = Field(min_length=1, max_length=200)


class Message(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    status: str
    created_at: datetime | None = None
    reply_id: str | None = None
    sources: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, Any] | None = None


class MessageList(BaseModel):
    items: list[Message]
    # Pass as `before` to get the next older page; null on the last page.
    next_before: str | None = None


class SendMessageIn(StrictIn):
    # Length limits are checked in the route, to answer 413 (too long) and 422 (blank) distinctly.
    content: str
    use_knowledge: bool | None = None


class AcceptedMessage(BaseModel):
    id: str
    role: Literal["user"] = "user"
    content: str
    status: str
    created_at: datetime


class SendMessageOut(BaseModel):
    message: AcceptedMessage
    reply_id: str
    stream_url: str


class ReplyAccepted(BaseModel):
    reply_id: str
    stream_url: str
    regenerate_of: str | None = None


class StopOut(BaseModel):
    reply_id: str
    status: Literal["stopping"] = "stopping"


# --- documents, search, admin -----------------------------------------------------------


class Document(BaseModel):
    id: str
    filename: str
    content_type: str | None = None
    size: int | None = None
    status: str
    progress: int = 0
    chunks: int | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DocumentOut(BaseModel):
    document: Document


class DocumentList(BaseModel):
    items: list[Document]


class SearchHit(BaseModel):
    # Hit fields beyond these (conversation or document references, ...) pass through as sent.
    model_config = ConfigDict(extra="allow")
    type: str  # "message" | "document"
    id: str | None = None
    snippet: str = ""
    conversation_id: str | None = None
    document_id: str | None = None
    filename: str | None = None


class SearchOut(BaseModel):
    items: list[SearchHit]


class AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- personal API keys -------------------------------------------------------------------


class ApiKeyCreate(StrictIn):
    name: str = Field(min_length=1, max_length=100)


class ApiKey(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it; never the whole key")
    created_at: datetime
    last_used_at: datetime | None = None


class ApiKeyCreated(BaseModel):
    key: ApiKey
    secret: str = Field(description="the whole key; shown only in this response, store it now")


class ApiKeyList(BaseModel):
    items: list[ApiKey]
