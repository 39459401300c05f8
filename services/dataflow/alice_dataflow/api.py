"""Internal HTTP API (X-Internal-Token): documents, search, stats. Every user call is scoped by
`user_id`; another user's document answers 404 exactly like a missing one."""

from typing import Annotated

from alice_common import vectorstore
from alice_common.admin_wire import DailyStats
from alice_common.ids import INTERNAL_ID_PATTERN, is_internal_id
from alice_common.wire import DocumentRegistration, SearchResults, StoredDocument, StoredDocumentPage
from fastapi import APIRouter, Query, Response

from alice_dataflow import search as search_mod
from alice_dataflow.app_context import Ctx
from alice_dataflow.documents import FAILED, INDEXED, to_public
from alice_dataflow.errors import ApiError

router = APIRouter(prefix="/internal")

UserId = Annotated[str, Query(pattern=INTERNAL_ID_PATTERN)]


def _check_id(document_id: str) -> str:
    if not is_internal_id(document_id):
        raise ApiError(404, "not_found", "document not found")
    return document_id


@router.post("/documents", status_code=201, response_model=StoredDocument)
async def register_document(
    body: DocumentRegistration, user_id: UserId, ctx: Ctx, response: Response
) -> StoredDocument:
    # An upload still in flight when its account was deleted: the backend then drops the file.
    if await ctx.documents.owner_deleted(user_id):
        raise ApiError(409, "account_deleted", "this account has been deleted")
    doc, created = await ctx.documents.register(
        user_id,
        body.document_id,
        body.filename,
        body.content_type,
        body.size,
        body.blob_id,
        body.conversation_id,
    )
    if doc is None:
        raise ApiError(409, "conflict", "a document with this id already exists")
    if await ctx.conversation_deletions.registered_too_late(user_id, body.conversation_id, body.document_id):
        raise ApiError(404, "conversation_not_found", "the conversation has been deleted")
    if not created:
        response.status_code = 200
    return to_public(doc)


ConversationId = Annotated[str | None, Query(pattern=INTERNAL_ID_PATTERN)]


@router.get("/documents", response_model=StoredDocumentPage)
async def list_documents(
    user_id: UserId, ctx: Ctx, conversation_id: ConversationId = None
) -> StoredDocumentPage:
    """The library, or with `conversation_id` that conversation's attachments."""
    docs = await ctx.documents.list(user_id, conversation_id)
    return StoredDocumentPage(items=[to_public(d) for d in docs])


@router.get("/documents/{document_id}", response_model=StoredDocument)
async def get_document(document_id: str, user_id: UserId, ctx: Ctx) -> StoredDocument:
    doc = await ctx.documents.get(user_id, _check_id(document_id))
    if doc is None:
        raise ApiError(404, "not_found", "document not found")
    return to_public(doc)


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(document_id: str, user_id: UserId, ctx: Ctx) -> Response:
    """Removes the record and its chunks. The blob in GridFS `uploads` belongs to the backend,
    which deletes it after this call."""
    doc = await ctx.documents.get(user_id, _check_id(document_id))
    if doc is None:
        raise ApiError(404, "not_found", "document not found")
    # Record first: an ingestion in flight sees it gone and stops (then removes what it wrote).
    await ctx.documents.delete(user_id, document_id)
    await vectorstore.delete_document_chunks(ctx.weaviate, user_id, document_id)
    return Response(status_code=204)


@router.post("/documents/{document_id}/library", response_model=StoredDocument)
async def add_to_library(document_id: str, user_id: UserId, ctx: Ctx) -> StoredDocument:
    """An attachment becomes a library document, used by every conversation."""
    doc = await ctx.documents.get(user_id, _check_id(document_id))
    if doc is None:
        raise ApiError(404, "not_found", "document not found")
    if doc.get("conversation_id") is None:
        return to_public(doc)
    if doc["status"] not in (INDEXED, FAILED):
        raise ApiError(409, "conflict", "the document is still being indexed; add it once it is ready")
    await vectorstore.move_to_library(ctx.weaviate, user_id, document_id, int(doc.get("chunks") or 0))
    await ctx.documents.move_to_library(user_id, document_id)
    return to_public(await ctx.documents.get(user_id, document_id))


@router.get("/search", response_model=SearchResults)
async def search(
    user_id: UserId,
    ctx: Ctx,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchResults:
    if not q.strip():
        raise ApiError(422, "invalid_request", "q: must not be blank")
    hits = await search_mod.search(ctx.weaviate, ctx.embedder, user_id, q.strip(), limit)
    return SearchResults(query=q.strip(), items=hits)


@router.get("/stats", response_model=DailyStats)
async def stats(ctx: Ctx, days: Annotated[int, Query(ge=1, le=366)] = 30) -> DailyStats:
    return DailyStats.model_validate(await ctx.analytics.stats(days))
