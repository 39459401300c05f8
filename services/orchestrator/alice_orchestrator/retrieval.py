"""Knowledge and memory for the prompt, from the user's own Weaviate tenant (issue 3).

- Knowledge: chunks of the user's documents whose cosine similarity to the message clears
  `KNOWLEDGE_MIN_SCORE`, best `KNOWLEDGE_TOP_K`, numbered in the prompt and returned as `sources`.
- Memory: the most relevant messages from the user's *other* conversations (`use_memory`).

A user without a tenant yet simply gets nothing. Retrieval failures are logged and the reply goes
on without sources: a vector store outage must not stop the chat.
"""

import asyncio
import logging
import time

from alice_common import vectorstore
from alice_common.embeddings import Embedder
from alice_common.events import ChatRequested

from alice_orchestrator.settings import Settings

log = logging.getLogger(__name__)

SNIPPET_CHARS = 240
PROMPT_CHUNK_CHARS = 900
MEMORY_CHARS = 300
POSITIVE_TENANT_TTL_S = 600.0
MAX_REMEMBERED_TENANTS = 100_000


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


class WeaviateRetriever:
    def __init__(self, settings: Settings, client, embedder: Embedder):
        self.settings = settings
        self.client = client
        self.embedder = embedder
        self._tenants: dict[tuple[str, str], tuple[bool, float]] = {}

    async def retrieve(self, request: ChatRequested) -> tuple[list[dict], list[str]]:
        want_knowledge = request.use_knowledge is not False and self.settings.knowledge_top_k > 0
        want_memory = request.use_memory and self.settings.memory_top_k > 0
        if not (want_knowledge or want_memory) or not request.content.strip():
            return [], []
        try:
            if not self.client.is_connected():
                await self.client.connect()
            # Embedding costs CPU time on the reply's critical path: skip it for users who have
            # nothing indexed yet (a tenant lookup is far cheaper).
            want_knowledge, want_memory = await asyncio.gather(
                self._has_tenant(vectorstore.KNOWLEDGE, request.user_id) if want_knowledge else _false(),
                self._has_tenant(vectorstore.MEMORY, request.user_id) if want_memory else _false(),
            )
            if not (want_knowledge or want_memory):
                return [], []
            vector = (await self.embedder.aembed([request.content]))[0]
            knowledge, memories = await asyncio.gather(
                self._knowledge(request, vector) if want_knowledge else _nothing(),
                self._memory(request, vector) if want_memory else _nothing(),
            )
        except Exception as exc:  # the chat goes on without retrieval; the cause is logged
            log.warning("retrieval failed for %s: %s: %s", request.reply_id, type(exc).__name__, exc)
            return [], []
        return knowledge, memories

    async def _has_tenant(self, collection: str, user_id: str) -> bool:
        """Whether the user has anything in `collection`. A tenant lookup costs tens of ms on a
        busy Weaviate, so answers are remembered: a tenant, once there, stays (no expiry needed
        beyond a long safety TTL); "none yet" is asked again after `RETRIEVAL_TENANT_RECHECK_S`,
        so a first document is used at most that long after it was indexed."""
        tenant = vectorstore.tenant_name(user_id)
        key = (collection, tenant)
        now = time.monotonic()
        known = self._tenants.get(key)
        if known is not None and now < known[1]:
            return known[0]
        found = await self.client.collections.use(collection).tenants.get_by_name(tenant) is not None
        ttl = POSITIVE_TENANT_TTL_S if found else self.settings.retrieval_tenant_recheck_s
        if len(self._tenants) >= MAX_REMEMBERED_TENANTS:
            self._tenants.clear()
        self._tenants[key] = (found, now + ttl)
        return found

    async def _knowledge(self, request: ChatRequested, vector) -> list[dict]:
        top_k = self.settings.knowledge_top_k
        hits = await vectorstore.search_knowledge(
            self.client,
            request.user_id,
            request.content,
            vector,
            limit=top_k * 2,
            filters=vectorstore.knowledge_scope(request.conversation_id),
        )
        good = [h for h in hits if h.similarity >= self.settings.knowledge_min_score][:top_k]
        budget = self.settings.retrieval_token_budget * 3  # characters, ~3 per token
        sources = []
        for hit in good:
            text = str(hit.properties.get("text") or "")
            prompt_text = snippet(text, min(PROMPT_CHUNK_CHARS, max(budget, 0)))
            if not prompt_text:
                break
            budget -= len(prompt_text)
            sources.append(
                {
                    "document_id": hit.properties.get("document_id"),
                    "filename": hit.properties.get("filename") or "document",
                    "chunk": int(hit.properties.get("chunk_index") or 0),
                    "snippet": snippet(text),
                    "score": round(hit.similarity, 4),
                    "prompt_text": prompt_text,
                }
            )
        return sources

    async def _memory(self, request: ChatRequested, vector) -> list[str]:
        hits = await vectorstore.search_memory(
            self.client,
            request.user_id,
            request.content,
            vector,
            limit=self.settings.memory_top_k * 2,
            exclude_conversation=request.conversation_id,
        )
        good = [h for h in hits if h.similarity >= self.settings.memory_min_score]
        lines = []
        for hit in good[: self.settings.memory_top_k]:
            who = "The user said" if hit.properties.get("role") == "user" else "You answered"
            lines.append(f"{who}: {snippet(str(hit.properties.get('text') or ''), MEMORY_CHARS)}")
        return lines


async def _nothing() -> list:
    return []


async def _false() -> bool:
    return False
