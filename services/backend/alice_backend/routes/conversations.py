"""Conversations and messages, proxied to the orchestrator and scoped to the caller."""

from typing import Annotated

from alice_common.events import AttachedFile, new_id
from alice_common.ids import check_id
from alice_common.wire import (
    BranchChoice,
    BranchPage,
    ChatSettings,
    Conversation,
    ConversationChanges,
    ConversationPage,
    MessagePage,
)
from fastapi import APIRouter, Query, Response, status

from alice_backend.auth.dependencies import Ctx, CurrentUser, UserId
from alice_backend.errors import ApiError, error_responses
from alice_backend.idempotency import IdempotencyKey, fingerprint
from alice_backend.replies import requesting
from alice_backend.schemas import (
    AcceptedMessage,
    ConversationCreate,
    ConversationPatch,
    SendMessageIn,
    SendMessageOut,
)

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

UPSTREAM = (502, 503)


@router.get("", response_model=ConversationPage, responses=error_responses(401, 404, 422, *UPSTREAM))
async def list_conversations(
    ctx: Ctx,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        str | None, Query(max_length=64, description="a conversation id (or ISO time) from `next_before`")
    ] = None,
    archived: Annotated[
        bool, Query(description="true: only the archived conversations; false: only the others")
    ] = False,
) -> ConversationPage:
    """Pinned conversations first, then the others; each group most recently updated first."""
    return await ctx.orchestrator.list_conversations(user_id, limit, before, archived)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Conversation,
    responses=error_responses(400, 401, 404, 413, 422, *UPSTREAM),
)
async def create_conversation(
    ctx: Ctx, user: CurrentUser, body: ConversationCreate | None = None
) -> Conversation:
    """With the settings of `preset_id`, else of the user's default preset, else their default model."""
    settings = await _new_conversation_settings(ctx, user, body.preset_id if body else None)
    created = await ctx.orchestrator.create_conversation(user.id, body.title if body else None, settings)
    ctx.conversation_owners.remember(created.id, user.id)
    return created


async def _new_conversation_settings(
    ctx: Ctx, user: CurrentUser, preset_id: str | None
) -> ChatSettings | None:
    if preset_id is not None:
        preset = await ctx.orchestrator.get_preset(user.id, check_id(preset_id, "preset"))
        return preset.settings
    defaults = user.settings
    if defaults.default_preset_id:
        try:
            preset = await ctx.orchestrator.get_preset(user.id, defaults.default_preset_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
        else:  # a default preset deleted (or unpublished) since is passed over
            return preset.settings
    if defaults.default_model:
        return ChatSettings(model=defaults.default_model)
    return None


@router.get("/{conversation_id}", response_model=Conversation, responses=error_responses(401, 404, *UPSTREAM))
async def get_conversation(conversation_id: str, ctx: Ctx, user_id: UserId) -> Conversation:
    return await ctx.orchestrator.get_conversation(user_id, check_id(conversation_id, "conversation"))


@router.patch(
    "/{conversation_id}",
    response_model=Conversation,
    responses=error_responses(400, 401, 404, 413, 422, *UPSTREAM),
)
async def update_conversation(
    conversation_id: str, body: ConversationPatch, ctx: Ctx, user_id: UserId
) -> Conversation:
    """Rename, pin, archive or change its chat settings: any of `title`, `pinned`, `archived`,
    `settings` (replaced as a whole: a field left out is the default), at least one."""
    title = None if body.title is None else body.title.strip()
    if title == "":
        raise ApiError(422, "validation_error", "title must not be blank")
    conversation_id = check_id(conversation_id, "conversation")
    changes = ConversationChanges(
        title=title, pinned=body.pinned, archived=body.archived, settings=body.settings
    )
    return await ctx.orchestrator.update_conversation(user_id, conversation_id, changes)


async def _attachments(ctx: Ctx, user_id: str, conversation_id: str, ids: list[str]) -> list[AttachedFile]:
    """The named attachments, which must be this conversation's (else 422, like any bad field)."""
    if not ids:
        return []
    attached = {d.id: d for d in (await ctx.dataflow.list_documents(user_id, conversation_id)).items}
    missing = [i for i in ids if i not in attached]
    if missing:
        raise ApiError(
            422, "validation_error", f"attachments: {missing[0]} is not attached to this conversation"
        )
    return [AttachedFile(document_id=i, filename=attached[i].filename) for i in dict.fromkeys(ids)]


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, *UPSTREAM),
)
async def delete_conversation(conversation_id: str, ctx: Ctx, user_id: UserId) -> Response:
    # Its attachments go with it: the dataflow removes them on `conversations.deleted`.
    conversation_id = check_id(conversation_id, "conversation")
    await ctx.orchestrator.delete_conversation(user_id, conversation_id)
    ctx.conversation_owners.forget(conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{conversation_id}/messages",
    response_model=MessagePage,
    responses=error_responses(401, 404, 422, *UPSTREAM),
)
async def list_messages(
    conversation_id: str,
    ctx: Ctx,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(max_length=64, description="a message id from `next_before`")] = None,
) -> MessagePage:
    conversation_id = check_id(conversation_id, "conversation")
    return await ctx.orchestrator.list_messages(user_id, conversation_id, limit, before)


BranchLimit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/{conversation_id}/branch",
    response_model=BranchPage,
    responses=error_responses(401, 404, 422, 429, *UPSTREAM),
)
async def get_branch(
    conversation_id: str,
    ctx: Ctx,
    user_id: UserId,
    limit: BranchLimit = 100,
    before: Annotated[
        str | None, Query(max_length=64, description="a message id: the path just above it (`next_before`)")
    ] = None,
) -> BranchPage:
    """The branch of the conversation's tree shown now: each message followed by its newest reply or
    the version chosen, with every message's versions (`siblings`)."""
    conversation_id = check_id(conversation_id, "conversation")
    await _branch_limit(ctx, user_id)
    return await ctx.orchestrator.get_branch(user_id, conversation_id, limit, before)


@router.put(
    "/{conversation_id}/branch",
    response_model=BranchPage,
    responses=error_responses(400, 401, 404, 422, 429, *UPSTREAM),
)
async def choose_branch(
    conversation_id: str, choice: BranchChoice, ctx: Ctx, user_id: UserId, limit: BranchLimit = 100
) -> BranchPage:
    """Shows another version: the branch through `message_id`, continued by its newest messages;
    remembered for the next visit."""
    conversation_id = check_id(conversation_id, "conversation")
    await _branch_limit(ctx, user_id)
    return await ctx.orchestrator.choose_branch(user_id, conversation_id, choice, limit)


async def _branch_limit(ctx: Ctx, user_id: str) -> None:
    s = ctx.settings
    too_fast = "reading branches too fast; retry later"
    await ctx.limiter.require(f"rl:{user_id}:branch", s.branch_rate_capacity, s.branch_rate_per_s, too_fast)


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SendMessageOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 429, *UPSTREAM, 504),
)
async def send_message(
    conversation_id: str, body: SendMessageIn, ctx: Ctx, user_id: UserId, key: IdempotencyKey
) -> SendMessageOut:
    content = body.content.strip()
    if not content:
        raise ApiError(422, "empty_message", "message content must not be empty")
    if len(content) > ctx.settings.max_message_chars:
        raise ApiError(
            413, "message_too_long", f"message exceeds {ctx.settings.max_message_chars} characters"
        )
    check_id(conversation_id, "conversation")
    await requesting.ensure_conversation(ctx, user_id, conversation_id)
    attachments = await _attachments(ctx, user_id, conversation_id, body.attachments)
    fresh = {"message_id": new_id(), "reply_id": new_id(), "created_at": requesting.now().isoformat()}

    async def start(ids: dict, attempt: requesting.Attempt) -> None:
        await requesting.request_reply(
            ctx,
            user_id=user_id,
            conversation_id=conversation_id,
            message_id=ids["message_id"],
            reply_id=ids["reply_id"],
            content=content,
            use_knowledge=body.use_knowledge,
            attempt=attempt,
            attachments=attachments,
            parent_id=body.parent_id,
            edit_of=body.edit_of,
        )

    # Nothing added for a message without them: keys recorded before these fields still match.
    place = ["parent", body.parent_id] if body.parent_id else ["edit", body.edit_of] if body.edit_of else []
    request = fingerprint("send", conversation_id, content, body.use_knowledge, *body.attachments, *place)
    ids, _ = await requesting.once(ctx, user_id, key, request, fresh, start)
    return SendMessageOut(
        message=AcceptedMessage(id=ids["message_id"], content=content, created_at=ids["created_at"]),
        reply_id=ids["reply_id"],
        stream_url=requesting.stream_url(ids["reply_id"]),
    )
