"""The dataflow's internal API (`/internal/...`), one typed method per endpoint."""

from alice_common.admin_wire import DailyStats
from alice_common.wire import (
    DocumentRegistration,
    EmbeddingModel,
    Embeddings,
    EmbeddingsRequest,
    SearchResults,
    StoredDocument,
    StoredDocumentPage,
)

from alice_backend.internal_client import InternalClient, seg


def _document(document_id: str) -> str:
    return f"/internal/documents/{seg(document_id)}"


class DataflowClient(InternalClient):
    async def register_document(self, user_id: str, registration: DocumentRegistration) -> StoredDocument:
        body = registration.model_dump(mode="json")
        return await self.get_as(StoredDocument, "POST", "/internal/documents", user_id=user_id, json=body)

    async def list_documents(self, user_id: str, conversation_id: str | None = None) -> StoredDocumentPage:
        params = {"conversation_id": conversation_id} if conversation_id else None
        return await self.get_as(
            StoredDocumentPage, "GET", "/internal/documents", user_id=user_id, params=params
        )

    async def add_to_library(self, user_id: str, document_id: str) -> StoredDocument:
        path = f"{_document(document_id)}/library"
        return await self.get_as(StoredDocument, "POST", path, user_id=user_id)

    async def get_document(self, user_id: str, document_id: str) -> StoredDocument:
        return await self.get_as(StoredDocument, "GET", _document(document_id), user_id=user_id)

    async def delete_document(self, user_id: str, document_id: str) -> None:
        await self.call("DELETE", _document(document_id), user_id=user_id)

    async def search(self, user_id: str, q: str, limit: int) -> SearchResults:
        params = {"q": q, "limit": limit}
        return await self.get_as(SearchResults, "GET", "/internal/search", user_id=user_id, params=params)

    async def stats(self, days: int) -> DailyStats:
        return await self.get_as(DailyStats, "GET", "/internal/stats", params={"days": days})

    async def embedding_model(self) -> EmbeddingModel:
        return await self.get_as(EmbeddingModel, "GET", "/internal/embeddings/model")

    async def embed(self, user_id: str, texts: list[str]) -> Embeddings:
        body = EmbeddingsRequest(texts=texts).model_dump(mode="json")
        return await self.get_as(Embeddings, "POST", "/internal/embeddings", user_id=user_id, json=body)
