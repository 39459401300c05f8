"""Document upload (GridFS `uploads` + dataflow registration + `DocumentUploaded`), list, get, delete;
an upload with `conversation_id` is that conversation's attachment until added to the library."""

import logging
import os
from typing import Annotated

from alice_common import topics
from alice_common.events import DocumentUploaded, new_id
from alice_common.ids import check_id
from alice_common.kafka import publish
from alice_common.wire import Document, DocumentPage, DocumentRegistration, StoredDocument
from fastapi import APIRouter, Query, Request, Response, status
from gridfs.errors import NoFile
from starlette.datastructures import UploadFile

from alice_backend import quotas, sniff
from alice_backend.app_context import AppContext
from alice_backend.auth.dependencies import Ctx, UserId
from alice_backend.errors import ApiError, error_responses
from alice_backend.replies.requesting import ensure_conversation
from alice_backend.schemas import DocumentOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/documents", tags=["documents"])

UPLOAD_PATH = "/api/documents"
CHUNK = 256 * 1024
SNIFF_BYTES = 8192
UPSTREAM = (502, 503)
MIB = 1024 * 1024
REGISTERED_FIELDS = set(DocumentRegistration.model_fields)
# The route reads the multipart body itself, after the rate limit and quota checks (a body
# parameter would be spooled to disk before any of them ran); the schema is declared here.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "conversation_id": {
                            "type": "string",
                            "description": "attach the file to this conversation instead of the library",
                        },
                    },
                }
            }
        },
    }
}


def _clean_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = "".join(c for c in base if c.isprintable())[:200]
    return base or "upload"


def _quota_exceeded(message: str) -> ApiError:
    return ApiError(413, "storage_quota_exceeded", f"{message}; delete documents to make room")


async def _room_left(ctx: AppContext, user_id: str) -> int:
    """Bytes this user may still store; 413 if the document or byte quota is already used up."""
    s = ctx.settings
    used = await quotas.usage(ctx.db, user_id)
    if used.documents >= s.max_documents_per_user:
        raise _quota_exceeded(f"you have {used.documents} documents, the limit is {s.max_documents_per_user}")
    room = s.max_stored_bytes_per_user - used.bytes
    if room <= 0:
        raise _quota_exceeded(
            f"your documents use the {s.max_stored_bytes_per_user // MIB} MiB you may store"
        )
    return room


async def _store(
    ctx: AppContext, upload: UploadFile, filename: str, user_id: str, document_id: str, room: int
):
    """Streams the upload into GridFS, checking size and type as it goes; returns (blob_id, type, size)."""
    limit = ctx.settings.max_upload_bytes
    head = await upload.read(SNIFF_BYTES)
    try:
        content_type = sniff.detect(head, filename)
    except sniff.UnsupportedType as exc:
        raise ApiError(
            415, "unsupported_media_type", f"unsupported file: {exc}; use PDF, HTML, Markdown or text"
        ) from exc
    validator = None if content_type == sniff.PDF else sniff.TextValidator()
    blob_id = new_id()
    grid_in = ctx.uploads.open_upload_stream_with_id(
        blob_id,
        filename,
        metadata={"user_id": user_id, "document_id": document_id, "content_type": content_type},
    )
    size = 0
    chunk = head
    try:
        while chunk:
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"file exceeds {limit} bytes")
            if size > room:
                raise _quota_exceeded(f"this file does not fit in the {room} bytes of storage you have left")
            if validator:
                validator.feed(chunk)
            await grid_in.write(chunk)
            chunk = await upload.read(CHUNK)
        if validator:
            validator.feed(b"", final=True)
        await grid_in.close()
    except sniff.UnsupportedType as exc:
        await grid_in.abort()
        raise ApiError(415, "unsupported_media_type", f"unsupported file: {exc}") from exc
    except BaseException:
        await grid_in.abort()
        raise
    return blob_id, content_type, size


async def _attached_to(ctx: AppContext, user_id: str, value) -> str | None:
    """The conversation an attachment belongs to; another user's conversation answers 404."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(422, "validation_error", "conversation_id: must be a conversation id")
    conversation_id = check_id(value, "conversation")
    await ensure_conversation(ctx, user_id, conversation_id)
    return conversation_id


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentOut,
    responses=error_responses(400, 401, 404, 413, 415, 422, 429, *UPSTREAM),
    openapi_extra=UPLOAD_BODY,
)
async def upload_document(ctx: Ctx, user_id: UserId, request: Request) -> DocumentOut:
    s = ctx.settings
    await ctx.limiter.require(
        f"rl:{user_id}:upload", s.upload_rate_capacity, s.upload_rate_per_s, "uploading too fast; retry later"
    )
    room = await _room_left(ctx, user_id)
    form = await request.form(max_files=1, max_fields=8)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiError(
                422, "validation_error", "a multipart field `file` holding the document is required"
            )
        conversation_id = await _attached_to(ctx, user_id, form.get("conversation_id"))
        filename = _clean_filename(file.filename)
        document_id = new_id()
        blob_id, content_type, size = await _store(ctx, file, filename, user_id, document_id, room)
    finally:
        await form.close()
    event = DocumentUploaded(
        document_id=document_id,
        user_id=user_id,
        filename=filename,
        content_type=content_type,
        size=size,
        blob_id=blob_id,
        conversation_id=conversation_id,
    )
    # Not validated here: the dataflow checks it and answers 422 as it always did.
    registration = DocumentRegistration.model_construct(**event.model_dump(include=REGISTERED_FIELDS))
    try:
        registered = await ctx.dataflow.register_document(user_id, registration)
        await publish(ctx.producer, s, topics.DOCUMENTS_UPLOADED, event)
    except Exception as exc:
        # Nothing refers to the blob unless the dataflow registered it and the event went out.
        await ctx.uploads.delete(blob_id)
        if isinstance(exc, ApiError):
            raise
        log.warning("publishing DocumentUploaded failed: %s", exc)
        raise ApiError(503, "upstream_unavailable", "the message queue is unavailable; retry") from exc
    return DocumentOut(document=registered.public())


@router.get("", response_model=DocumentPage, responses=error_responses(401, 404, *UPSTREAM))
async def list_documents(
    ctx: Ctx,
    user_id: UserId,
    conversation_id: Annotated[
        str | None, Query(description="list this conversation's attachments instead of the library")
    ] = None,
) -> DocumentPage:
    if conversation_id is not None:
        conversation_id = check_id(conversation_id, "conversation")
        await ensure_conversation(ctx, user_id, conversation_id)
    stored = await ctx.dataflow.list_documents(user_id, conversation_id)
    return DocumentPage(items=[d.public() for d in stored.items], next_before=stored.next_before)


async def _stored(ctx: Ctx, user_id: str, document_id: str) -> StoredDocument:
    return await ctx.dataflow.get_document(user_id, check_id(document_id, "document"))


@router.get("/{document_id}", response_model=Document, responses=error_responses(401, 404, *UPSTREAM))
async def get_document(document_id: str, ctx: Ctx, user_id: UserId) -> Document:
    return (await _stored(ctx, user_id, document_id)).public()


@router.post(
    "/{document_id}/library", response_model=Document, responses=error_responses(401, 404, 409, *UPSTREAM)
)
async def add_to_library(document_id: str, ctx: Ctx, user_id: UserId) -> Document:
    """An attachment becomes a library document, used by every conversation."""
    return (await ctx.dataflow.add_to_library(user_id, check_id(document_id, "document"))).public()


@router.delete(
    "/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 404, *UPSTREAM)
)
async def delete_document(document_id: str, ctx: Ctx, user_id: UserId) -> Response:
    stored = await _stored(ctx, user_id, document_id)
    await ctx.dataflow.delete_document(user_id, stored.id)
    # The backend owns the `uploads` bucket, so it removes the blob once the document is gone.
    try:
        await ctx.uploads.delete(stored.blob_id)
    except NoFile:
        pass
    return Response(status_code=status.HTTP_204_NO_CONTENT)
