"""Internal read/write API for the backend (guarded by `X-Internal-Token`, scoped by `user_id`).

Someone else's ids answer 404, exactly like ids that do not exist.
"""

import asyncio
from datetime import datetime
from typing import Annotated

from alice_common.errors import ApiError, install_error_handlers
from alice_common.events import ConversationDeleted
from alice_common.ids import INTERNAL_ID_PATTERN, new_id
from alice_common.internal_auth import internal_token_guard
from alice_common.wire import (
    ArchivedConversation,
    ArchivePage,
    ChatSettings,
    Conversation,
    ConversationArchive,
    ConversationChanges,
    ConversationPage,
    Feedback,
    FeedbackGiven,
    FeedbackStats,
    ImportedConversations,
    MessagePage,
    ModelInfo,
    ReplyRef,
    ServedModels,
    Share,
    ShareCreate,
    SharedConversation,
    ShareList,
)
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from alice_orchestrator import prompt_size
from alice_orchestrator.api_params import UserId
from alice_orchestrator.app_context import Ctx
from alice_orchestrator.archive import archived_conversation, import_archive, served_models_only
from alice_orchestrator.branch_api import router as branch_router
from alice_orchestrator.conversation_settings import checked_settings
from alice_orchestrator.preset_api import router as presets_router
from alice_orchestrator.settings import Settings
from alice_orchestrator.shares import MAX_SHARED_MESSAGES
from alice_orchestrator.store import ChatStore, ListPosition, conversation_of, message_of
from alice_orchestrator.tree import Tree

MAX_LIMIT = 200
# Whole conversations per export page: each comes with all its messages.
MAX_EXPORT_PAGE = 50


class ConversationCreate(BaseModel):
    id: str | None = Field(default=None, pattern=INTERNAL_ID_PATTERN)
    title: str | None = Field(default=None, max_length=200)
    settings: ChatSettings | None = None


async def owned_conversation(store: ChatStore, user_id: str, conversation_id: str) -> dict:
    conversation = await store.get_conversation(user_id, conversation_id)
    if conversation is None:
        raise ApiError(404, "conversation_not_found", "no such conversation")
    return conversation


async def owned_reply(store: ChatStore, user_id: str, conversation_id: str, reply_id: str) -> dict:
    """A reply in one of the user's conversations; anything else (someone else's) is a 404."""
    await owned_conversation(store, user_id, conversation_id)
    reply = await store.get_message(reply_id, user_id)
    if reply is None or reply.get("role") != "assistant" or reply["conversation_id"] != conversation_id:
        raise ApiError(404, "reply_not_found", "no such reply in this conversation")
    return reply


router = APIRouter(prefix="/internal")


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    ctx: Ctx,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    before: Annotated[str | None, Query(max_length=128)] = None,
    archived: bool = False,
) -> ConversationPage:
    """Pinned first, then most recently updated first; `before` is a conversation id (or an ISO
    time: among the unpinned ones): the page after it. `archived`: only the archived ones."""
    position = None
    if before:
        anchor = await ctx.store.get_conversation(user_id, before)
        if anchor is not None:
            position = ListPosition.of(anchor)
        else:
            try:
                position = ListPosition(False, datetime.fromisoformat(before.replace("Z", "+00:00")))
            except ValueError as exc:
                raise ApiError(404, "conversation_not_found", "no such conversation") from exc
    items = await ctx.store.list_conversations(user_id, limit, position, archived)
    next_before = items[-1]["_id"] if len(items) == limit else None
    return ConversationPage(items=[conversation_of(c) for c in items], next_before=next_before)


@router.post("/conversations", status_code=201, response_model=Conversation)
async def create_conversation(ctx: Ctx, user_id: UserId, body: ConversationCreate) -> Conversation:
    settings = checked_settings(ctx.models, body.settings) if body.settings else None
    try:
        conversation = await ctx.store.create_conversation(user_id, body.id or new_id(), body.title, settings)
    except DuplicateKeyError as exc:
        raise ApiError(409, "conversation_exists", "that conversation id is taken") from exc
    return conversation_of(conversation)


@router.get("/conversations/export", response_model=ArchivePage)
async def export_conversations(
    ctx: Ctx,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT_PAGE)] = 10,
    after: Annotated[str | None, Query(max_length=128, description="`next_after` of the page before")] = None,
) -> ArchivePage:
    """Every conversation of the user, archived ones too, oldest created first, with all their
    messages; `next_after` names the last one on a full page (the next page starts after it)."""
    anchor = None
    if after:
        anchor = await owned_conversation(ctx.store, user_id, after)
    docs = await ctx.store.oldest_first(user_id, limit, anchor)
    items = [await archived_conversation(ctx.store, user_id, doc) for doc in docs]
    next_after = docs[-1]["_id"] if len(docs) == limit else None
    total = await ctx.store.count_conversations(user_id)
    return ArchivePage(items=items, next_after=next_after, total=total)


@router.post("/conversations/import", status_code=201, response_model=ImportedConversations)
async def import_conversations(ctx: Ctx, user_id: UserId, body: ConversationArchive) -> ImportedConversations:
    """New conversations owned by `user_id`, new ids throughout; all of them or none. Those the user
    imported before from the same exported conversations are answered as already present."""
    archive = served_models_only(body, ctx.models)
    imported = await import_archive(ctx.store, user_id, archive, ctx.announce_imported)
    return ImportedConversations(
        conversations=[conversation_of(c) for c in imported.created],
        already_present=[conversation_of(c) for c in imported.already_present],
    )


@router.get("/conversations/{conversation_id}", response_model=Conversation)
async def get_conversation(ctx: Ctx, conversation_id: str, user_id: UserId) -> Conversation:
    return conversation_of(await owned_conversation(ctx.store, user_id, conversation_id))


@router.get("/conversations/{conversation_id}/export", response_model=ArchivedConversation)
async def export_conversation(ctx: Ctx, conversation_id: str, user_id: UserId) -> ArchivedConversation:
    conversation = await owned_conversation(ctx.store, user_id, conversation_id)
    return await archived_conversation(ctx.store, user_id, conversation)


@router.patch("/conversations/{conversation_id}", response_model=Conversation)
async def patch_conversation(
    ctx: Ctx, conversation_id: str, user_id: UserId, body: ConversationChanges
) -> Conversation:
    """Rename, pin, archive or change its chat settings (replaced as a whole); only a new title
    counts as activity (moves it up the list)."""
    changes = body.changes()
    if "title" in changes:
        changes["title"] = " ".join(body.title.split())
        if not changes["title"]:
            raise ApiError(422, "invalid_title", "the title must not be blank")
    if body.settings is not None:
        changes["settings"] = checked_settings(ctx.models, body.settings)
    updated = await ctx.store.update_conversation(user_id, conversation_id, changes, touch="title" in changes)
    if updated is None:
        raise ApiError(404, "conversation_not_found", "no such conversation")
    return conversation_of(updated)


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(ctx: Ctx, conversation_id: str, user_id: UserId) -> Response:
    await owned_conversation(ctx.store, user_id, conversation_id)
    # Publish before deleting: if Kafka is down nothing has changed and a retry is safe. The
    # other order could drop the messages yet leave their memory searchable, and the retry
    # would answer 404. Publishing twice is harmless (the dataflow's handler is idempotent).
    event = ConversationDeleted(conversation_id=conversation_id, user_id=user_id)
    try:
        await ctx.publish_deleted(event)
    except Exception as exc:
        raise ApiError(503, "events_unavailable", "cannot delete right now, try again") from exc
    if not await ctx.store.delete_conversation(user_id, conversation_id):
        raise ApiError(404, "conversation_not_found", "no such conversation")
    await ctx.recent_turns.forget(conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/messages", response_model=MessagePage)
async def list_messages(
    ctx: Ctx,
    conversation_id: str,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    before: Annotated[str | None, Query(max_length=128)] = None,
) -> MessagePage:
    """Oldest → newest; `before` is a message id: the page of messages just older than it."""
    await owned_conversation(ctx.store, user_id, conversation_id)
    anchor = None
    if before:
        anchor = await ctx.store.get_message(before, user_id)
        if anchor is None or anchor["conversation_id"] != conversation_id:
            raise ApiError(404, "message_not_found", "no such message in this conversation")
    items = await ctx.store.list_messages(user_id, conversation_id, limit, anchor)
    next_before = items[0]["_id"] if len(items) == limit else None
    return MessagePage(items=[message_of(m) for m in items], next_before=next_before)


SHARES_PATH = "/conversations/{conversation_id}/shares"


@router.post(SHARES_PATH, status_code=201, response_model=Share)
async def create_share(ctx: Ctx, conversation_id: str, user_id: UserId, body: ShareCreate) -> Share:
    """A snapshot of the conversation's title and of the branch shown, as they are now."""
    conversation = await owned_conversation(ctx.store, user_id, conversation_id)
    tree = Tree.of(await ctx.store.skeleton(user_id, conversation_id))
    path = tree.branch(conversation.get("current_leaf"))[: MAX_SHARED_MESSAGES + 1]
    docs = await ctx.store.messages_by_ids(user_id, conversation_id, path)
    messages = [docs[i] for i in path if i in docs]
    try:
        return await ctx.store.shares.create(user_id, conversation, body.token_sha256, messages)
    except DuplicateKeyError as exc:  # a token the backend made twice: never in practice
        raise ApiError(409, "share_exists", "that link is taken") from exc


@router.get(SHARES_PATH, response_model=ShareList)
async def list_shares(ctx: Ctx, conversation_id: str, user_id: UserId) -> ShareList:
    await owned_conversation(ctx.store, user_id, conversation_id)
    return ShareList(items=await ctx.store.shares.of_conversation(user_id, conversation_id))


@router.delete("/shares/{share_id}", status_code=204)
async def revoke_share(ctx: Ctx, share_id: str, user_id: UserId) -> Response:
    if not await ctx.store.shares.revoke(user_id, share_id):
        raise ApiError(404, "share_not_found", "no such link")
    return Response(status_code=204)


@router.get("/shared/{token_sha256}", response_model=SharedConversation)
async def read_shared(ctx: Ctx, token_sha256: str) -> SharedConversation:
    """Not scoped to a user: the hash of the link's token is the proof of access."""
    shared = await ctx.store.shares.read(token_sha256)
    if shared is None:
        raise ApiError(404, "share_not_found", "this link was revoked or does not exist")
    return shared


FEEDBACK_PATH = "/conversations/{conversation_id}/messages/{reply_id}/feedback"


@router.put(FEEDBACK_PATH, response_model=Feedback)
async def give_feedback(
    ctx: Ctx, conversation_id: str, reply_id: str, user_id: UserId, body: FeedbackGiven
) -> Feedback:
    """The owner's rating of one reply; a second one replaces the first."""
    await owned_reply(ctx.store, user_id, conversation_id, reply_id)
    return await ctx.store.feedback.give(reply_id, body)


@router.delete(FEEDBACK_PATH, status_code=204)
async def clear_feedback(ctx: Ctx, conversation_id: str, reply_id: str, user_id: UserId) -> Response:
    await owned_reply(ctx.store, user_id, conversation_id, reply_id)
    await ctx.store.feedback.clear(reply_id)
    return Response(status_code=204)


@router.get("/feedback/stats", response_model=FeedbackStats)
async def feedback_stats(ctx: Ctx) -> FeedbackStats:
    """Every user's ratings (no `user_id`): the backend shows them to admins only."""
    return await ctx.store.feedback.stats()


@router.get("/replies/{reply_id}", response_model=ReplyRef)
async def get_reply(ctx: Ctx, reply_id: str, user_id: UserId) -> ReplyRef:
    reply = await ctx.store.get_message(reply_id, user_id)
    if reply is None or reply.get("role") != "assistant":
        raise ApiError(404, "reply_not_found", "no such reply")
    return ReplyRef(
        reply_id=reply["_id"],
        conversation_id=reply["conversation_id"],
        message_id=reply.get("reply_to"),
        status=reply.get("status", "completed"),
        finish_reason=reply.get("finish_reason"),
    )


@router.get("/models", response_model=ServedModels)
async def models(ctx: Ctx) -> ServedModels:
    """What `/v1/models` lists and the bounds `/v1/chat/completions` checks requests against:
    the default model first; `available`: its endpoint answered its last health probe."""
    served_models = list(ctx.models)
    available = await asyncio.gather(*(ctx.health.available(served) for served in served_models))
    return ServedModels(
        models=[
            ModelInfo(
                model=served.name,
                context_tokens=served.context_tokens,
                default_max_tokens=served.max_tokens,
                max_tokens_limit=served.max_tokens_limit,
                default=served is ctx.models.default,
                available=up,
            )
            for served, up in zip(served_models, available, strict=True)
        ]
    )


def install_internal_api(app: FastAPI, settings: Settings) -> None:
    guard = internal_token_guard(settings.alice_internal_token)
    app.include_router(router, dependencies=[Depends(guard)])
    app.include_router(presets_router, dependencies=[Depends(guard)])
    app.include_router(branch_router, dependencies=[Depends(guard)])
    app.include_router(prompt_size.router, dependencies=[Depends(guard)])
    install_error_handlers(app)
