"""Internal read/write API for the backend (guarded by `X-Internal-Token`, scoped by `user_id`).

Someone else's ids answer 404, exactly like ids that do not exist.
"""

from datetime import datetime
from typing import Annotated

from alice_common.errors import ApiError, install_error_handlers
from alice_common.events import ConversationDeleted, new_id
from alice_common.internal_auth import internal_token_guard
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from pymongo.errors import DuplicateKeyError

from alice_orchestrator.context import iso_ms
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore, public_conversation, public_message

MAX_LIMIT = 200
UserId = Annotated[str, Query(min_length=1, max_length=128)]


class ConversationCreate(BaseModel):
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    title: str | None = Field(default=None, max_length=200)


class ConversationPatch(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def _json(value):
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def install_internal_api(app: FastAPI, settings: Settings) -> None:
    def store_of(request: Request) -> ChatStore:
        return request.app.state.store

    router = APIRouter(
        prefix="/internal", dependencies=[Depends(internal_token_guard(settings.alice_internal_token))]
    )

    async def owned_conversation(store: ChatStore, user_id: str, conversation_id: str) -> dict:
        conversation = await store.get_conversation(user_id, conversation_id)
        if conversation is None:
            raise ApiError(404, "conversation_not_found", "no such conversation")
        return conversation

    @router.get("/conversations")
    async def list_conversations(
        request: Request,
        user_id: UserId,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        before: Annotated[str | None, Query(max_length=128)] = None,
    ) -> dict:
        """Most recently updated first; `before` is a conversation id (or an ISO time): the page after it."""
        store = store_of(request)
        cursor = None
        if before:
            anchor = await store.get_conversation(user_id, before)
            if anchor is not None:
                cursor = anchor["updated_at"]
            else:
                try:
                    cursor = datetime.fromisoformat(before.replace("Z", "+00:00"))
                except ValueError as exc:
                    raise ApiError(404, "conversation_not_found", "no such conversation") from exc
        items = await store.list_conversations(user_id, limit, cursor)
        next_before = items[-1]["_id"] if len(items) == limit else None
        return {"items": [_json(public_conversation(c)) for c in items], "next_before": next_before}

    @router.post("/conversations", status_code=201)
    async def create_conversation(request: Request, user_id: UserId, body: ConversationCreate) -> dict:
        store = store_of(request)
        try:
            conversation = await store.create_conversation(user_id, body.id or new_id(), body.title)
        except DuplicateKeyError as exc:
            raise ApiError(409, "conversation_exists", "that conversation id is taken") from exc
        return _json(public_conversation(conversation))

    @router.get("/conversations/{conversation_id}")
    async def get_conversation(request: Request, conversation_id: str, user_id: UserId) -> dict:
        conversation = await owned_conversation(store_of(request), user_id, conversation_id)
        return _json(public_conversation(conversation))

    @router.patch("/conversations/{conversation_id}")
    async def patch_conversation(
        request: Request, conversation_id: str, user_id: UserId, body: ConversationPatch
    ) -> dict:
        title = " ".join(body.title.split())
        if not title:
            raise ApiError(422, "invalid_title", "the title must not be blank")
        updated = await store_of(request).update_conversation(user_id, conversation_id, {"title": title})
        if updated is None:
            raise ApiError(404, "conversation_not_found", "no such conversation")
        return _json(public_conversation(updated))

    @router.delete("/conversations/{conversation_id}", status_code=204)
    async def delete_conversation(request: Request, conversation_id: str, user_id: UserId) -> Response:
        store = store_of(request)
        await owned_conversation(store, user_id, conversation_id)
        # Publish before deleting: if Kafka is down nothing has changed and a retry is safe. The
        # other order could drop the messages yet leave their memory searchable, and the retry
        # would answer 404. Publishing twice is harmless (the dataflow's handler is idempotent).
        event = ConversationDeleted(conversation_id=conversation_id, user_id=user_id)
        try:
            await request.app.state.publish_deleted(event)
        except Exception as exc:
            raise ApiError(503, "events_unavailable", "cannot delete right now, try again") from exc
        if not await store.delete_conversation(user_id, conversation_id):
            raise ApiError(404, "conversation_not_found", "no such conversation")
        await request.app.state.context.forget(conversation_id)
        return Response(status_code=204)

    @router.get("/conversations/{conversation_id}/messages")
    async def list_messages(
        request: Request,
        conversation_id: str,
        user_id: UserId,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        before: Annotated[str | None, Query(max_length=128)] = None,
    ) -> dict:
        """Oldest → newest; `before` is a message id: the page of messages just older than it."""
        store = store_of(request)
        await owned_conversation(store, user_id, conversation_id)
        anchor = None
        if before:
            anchor = await store.get_message(before, user_id)
            if anchor is None or anchor["conversation_id"] != conversation_id:
                raise ApiError(404, "message_not_found", "no such message in this conversation")
        items = await store.list_messages(user_id, conversation_id, limit, anchor)
        next_before = items[0]["_id"] if len(items) == limit else None
        return {"items": [_json(public_message(m)) for m in items], "next_before": next_before}

    @router.get("/replies/{reply_id}")
    async def get_reply(request: Request, reply_id: str, user_id: UserId) -> dict:
        reply = await store_of(request).get_message(reply_id, user_id)
        if reply is None or reply.get("role") != "assistant":
            raise ApiError(404, "reply_not_found", "no such reply")
        return {
            "reply_id": reply["_id"],
            "conversation_id": reply["conversation_id"],
            "message_id": reply.get("reply_to"),
            "status": reply.get("status"),
        }

    @router.get("/models")
    async def models(request: Request) -> dict:
        """What `/v1/models` lists and the bounds `/v1/chat/completions` checks requests against."""
        return {
            "model": request.app.state.handler.provider.model,
            "context_tokens": settings.llm_context_tokens,
            "default_max_tokens": settings.llm_max_tokens,
            # A reply may take at most half the context window, leaving the rest to the prompt.
            "max_tokens_limit": settings.llm_context_tokens // 2,
        }

    app.include_router(router)

    install_error_handlers(app)
