"""Internal HTTP API (X-Internal-Token): documents, search, stats. Every user call is scoped by
`user_id`; another user's document answers 404 exactly like a missing one."""

from typing import Annotated

from alice_common import linear_re, vectorstore
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from alice_dataflow import search as search_mod
from alice_dataflow.documents import to_public
from alice_dataflow.errors import ApiError

router = APIRouter(prefix="/internal")

_ID = linear_re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UserId = Annotated[str, Query(min_length=1, max_length=64, pattern=_ID.pattern)]


class Registration(BaseModel):
    document_id: str = Field(min_length=1, max_length=64, pattern=_ID.pattern)
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=128)
    size: int = Field(ge=0)
    blob_id: str = Field(min_length=1, max_length=128)


def _check_id(document_id: str) -> str:
    if not _ID.match(document_id):
        raise ApiError(404, "not_found", "document not found")
    return document_id


@router.post("/documents", status_code=201)
async def register_document(
    body: Registration, user_id: UserId, request: Request, response: Response
) -> dict:
    store = request.app.state.documents
    doc, created = await store.register(
        user_id, body.document_id, body.filename, body.content_type, body.size, body.blob_id
    )
    if doc is None:
        raise ApiError(409, "conflict", "a document with this id already exists")
    if not created:
        response.status_code = 200
    return {"document": to_public(doc)}


@router.get("/documents")
async def list_documents(user_id: UserId, request: Request) -> dict:
    return {"items": [to_public(d) for d in await request.app.state.documents.list(user_id)]}


@router.get("/documents/{document_id}")
async def get_document(document_id: str, user_id: UserId, request: Request) -> dict:
    doc = await request.app.state.documents.get(user_id, _check_id(document_id))
    if doc is None:
        raise ApiError(404, "not_found", "document not found")
    return to_public(doc)


@router.delete("/documents/{document_id}", status_code=204)
async def delete_document(document_id: str, user_id: UserId, request: Request) -> Response:
    """Removes the record and its chunks. The blob in GridFS `uploads` belongs to the backend,
    which deletes it after this call."""
    state = request.app.state
    doc = await state.documents.get(user_id, _check_id(document_id))
    if doc is None:
        raise ApiError(404, "not_found", "document not found")
    # Record first: an ingestion in flight sees it gone and stops (then removes what it wrote).
    await state.documents.delete(user_id, document_id)
    await vectorstore.delete_document_chunks(state.weaviate, user_id, document_id)
    return Response(status_code=204)


@router.get("/search")
async def search(
    user_id: UserId,
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> dict:
    if not q.strip():
        raise ApiError(422, "invalid_request", "q: must not be blank")
    state = request.app.state
    hits = await search_mod.search(state.weaviate, state.embedder, user_id, q.strip(), limit)
    return {"query": q.strip(), "items": hits}


@router.get("/stats")
async def stats(request: Request, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict:
    return await request.app.state.analytics.stats(days)
