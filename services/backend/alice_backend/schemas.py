"""Public request and response models (the OpenAPI contract documented in docs/api.md).

Conversations, messages, documents and search hits are the shared wire models of
`alice_common.wire`, exactly as the orchestrator and the dataflow send them.
"""

from datetime import datetime
from typing import Literal

from alice_common.ids import INTERNAL_ID_PATTERN
from alice_common.wire import (
    ConversationChanges,
    Document,
    FeedbackGiven,
    PresetChanges,
    PresetIn,
    Share,
    Timestamp,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alice_backend.users import Theme, User

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class StrictIn(BaseModel):
    # No coercion (0 is not false, "1" is not true): a client's type error is a 422, not a guess.
    model_config = ConfigDict(extra="forbid", strict=True)


# --- accounts ---------------------------------------------------------------------------


class UserOut(User):
    pass


class RegisterIn(StrictIn):
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8, max_length=256)
    display_name: str | None = Field(default=None, min_length=1, max_length=100)


class LoginIn(StrictIn):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(StrictIn):
    refresh_token: str | None = Field(default=None, max_length=200)


class SsoOption(BaseModel):
    name: str = Field(description="the provider's name for the button: Sign in with <name>")


class AuthConfig(BaseModel):
    password_login: bool
    password_signup: bool
    sso: SsoOption | None = Field(description="single sign-on (`GET /api/auth/oidc/login`), when configured")


class AuthOut(BaseModel):
    user: UserOut
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


class UserSettingsPatch(StrictIn):
    """Each field given changes; `default_model` and `default_preset_id` given as null clear."""

    memory_enabled: bool | None = None
    theme: Theme | None = None
    default_model: str | None = Field(default=None, min_length=1, max_length=128)
    default_preset_id: str | None = Field(default=None, min_length=1, max_length=64)


class MePatch(StrictIn):
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    settings: UserSettingsPatch | None = None


class MeDelete(StrictIn):
    password: str = Field(min_length=1, max_length=256)


class AccountDeleted(BaseModel):
    status: Literal["deleting"] = "deleting"
    message: str


# --- conversations and messages ---------------------------------------------------------


class ConversationCreate(StrictIn):
    title: str | None = Field(default=None, max_length=200)
    preset_id: str | None = Field(
        default=None, max_length=64, description="apply this preset; none: the user's default preset or model"
    )


class ConversationPatch(StrictIn, ConversationChanges):
    pass


class FeedbackIn(StrictIn, FeedbackGiven):
    pass


class PresetCreate(StrictIn, PresetIn):
    pass


class PresetPatch(StrictIn, PresetChanges):
    pass


class SendMessageIn(StrictIn):
    # Length limits are checked in the route, to answer 413 (too long) and 422 (blank) distinctly.
    content: str
    use_knowledge: bool | None = None
    attachments: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="ids of this conversation's attachments sent with the message (recorded on it)",
    )
    parent_id: str | None = Field(
        default=None,
        pattern=INTERNAL_ID_PATTERN,
        description="the message this one follows: the end of the branch the user sees; omitted: the "
        "end of the conversation's current branch",
    )
    edit_of: str | None = Field(
        default=None,
        pattern=INTERNAL_ID_PATTERN,
        description="a user message of this conversation: this message is a new version of it (same "
        "parent), and the old one is kept",
    )

    @model_validator(mode="after")
    def _one_place(self) -> "SendMessageIn":
        if self.parent_id is not None and self.edit_of is not None:
            raise ValueError("give `parent_id` or `edit_of`, not both")
        return self


class AcceptedMessage(BaseModel):
    id: str
    role: Literal["user"] = "user"
    content: str
    status: Literal["completed"] = "completed"
    created_at: Timestamp


class SendMessageOut(BaseModel):
    message: AcceptedMessage
    reply_id: str
    stream_url: str


class ReplyAccepted(BaseModel):
    reply_id: str
    stream_url: str
    regenerate_of: str | None = None
    continue_of: str | None = None


class StopOut(BaseModel):
    reply_id: str
    status: Literal["stopping"] = "stopping"


# --- documents, search, admin -----------------------------------------------------------


class DocumentOut(BaseModel):
    document: Document


class AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- personal API keys -------------------------------------------------------------------


class ApiKeyCreate(StrictIn):
    name: str = Field(min_length=1, max_length=100)


class ApiKeyLimits(StrictIn):
    """A key's own limits for `/v1` generations, in place of its owner's."""

    max_concurrent_generations: int = Field(ge=1, le=64)
    requests_per_minute: int = Field(ge=1, le=6000)


class ApiKeyUsage(BaseModel):
    requests: int = Field(description="`/v1` chat completions admitted with this key")
    prompt_tokens: int
    completion_tokens: int


class ApiKey(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it; never the whole key")
    created_at: datetime
    last_used_at: datetime | None = None
    limits: ApiKeyLimits | None = Field(default=None, description="set by an admin; null: the owner's limits")
    usage: ApiKeyUsage


class ApiKeyCreated(BaseModel):
    key: ApiKey
    secret: str = Field(description="the whole key; shown only in this response, store it now")


class ApiKeyList(BaseModel):
    items: list[ApiKey]


class ShareCreated(Share):
    token: str = Field(description="the link's secret; shown only in this response")
    url_path: str = Field(description="the page that shows the snapshot: `/s/<token>` on the web app")


# --- models -------------------------------------------------------------------------------


class ServedModel(BaseModel):
    id: str = Field(description="the model's name: what `/v1/chat/completions` takes as `model`")
    default: bool = Field(description="the model a reply is generated with when none is chosen")
    context_tokens: int = Field(description="the model's context window, in tokens")
    max_tokens_limit: int = Field(description="the longest reply a request may ask for, in tokens")
    available: bool = Field(description="false: its endpoint is down (checked every few seconds)")


class ServedModelList(BaseModel):
    items: list[ServedModel] = Field(description="the default model first")
