"""Hybrid search over one user's messages and document chunks."""

import asyncio

from alice_common import linear_re, vectorstore
from alice_common.embeddings import Embedder
from alice_common.wire import DocumentHit, MessageHit

SNIPPET_CHARS = 240
_WORD = linear_re.compile(r"[\p{L}\p{N}_]+")  # Unicode words (RE2's \w is ASCII-only)


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `text`, around the first query word it contains."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    words = [w for w in _WORD.findall(query.lower()) if len(w) > 2]
    lower = text.lower()
    hits = [i for i in (lower.find(w) for w in words) if i >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    end = min(len(text), start + width)
    start = max(0, end - width)
    return ("…" if start > 0 else "") + text[start:end].strip() + ("…" if end < len(text) else "")


def _scores(hit: vectorstore.Hit) -> dict:
    return {"score": round(rank_score(hit), 4), "similarity": round(hit.similarity, 4)}


def _message_hit(hit: vectorstore.Hit, query: str) -> MessageHit:
    p = hit.properties
    return MessageHit(
        id=p.get("message_id"),
        conversation_id=p.get("conversation_id"),
        role=p.get("role"),
        created_at=p.get("created_at"),
        snippet=snippet(p.get("text") or "", query),
        **_scores(hit),
    )


def _chunk_hit(hit: vectorstore.Hit, query: str) -> DocumentHit:
    p = hit.properties
    return DocumentHit(
        id=str(hit.uuid),
        document_id=p.get("document_id"),
        filename=p.get("filename"),
        chunk_index=p.get("chunk_index"),
        snippet=snippet(p.get("text") or "", query),
        **_scores(hit),
    )


def rank_score(hit: vectorstore.Hit) -> float:
    """Hybrid scores are relative within one collection's answer; the absolute cosine similarity
    makes messages and chunks comparable, the hybrid score keeps keyword matches up."""
    return 0.5 * max(hit.similarity, 0.0) + 0.5 * hit.score


async def search(
    weaviate, embedder: Embedder, user_id: str, query: str, limit: int
) -> list[MessageHit | DocumentHit]:
    (vector,) = await embedder.aembed([query], owner=user_id)
    messages, chunks = await asyncio.gather(
        vectorstore.search_memory(weaviate, user_id, query, vector, limit=limit),
        vectorstore.search_knowledge(weaviate, user_id, query, vector, limit=limit),
    )
    ranked = sorted([*messages, *chunks], key=rank_score, reverse=True)[:limit]
    return [
        _message_hit(h, query) if h.collection == vectorstore.MEMORY else _chunk_hit(h, query) for h in ranked
    ]
