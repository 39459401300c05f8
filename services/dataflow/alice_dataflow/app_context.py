"""What the internal API's routes use, created in the lifespan (`main.py`)."""

from dataclasses import dataclass
from typing import Annotated

import weaviate
from alice_common.app_context import app_context
from alice_common.embeddings import Embedder
from fastapi import Depends

from alice_dataflow.analytics import Analytics
from alice_dataflow.deletions import ConversationDeletions
from alice_dataflow.documents import DocumentStore


@dataclass
class AppContext:
    documents: DocumentStore
    analytics: Analytics
    weaviate: weaviate.WeaviateAsyncClient
    embedder: Embedder
    conversation_deletions: ConversationDeletions


Ctx = Annotated[AppContext, Depends(app_context)]
