"""The orchestrator's part of the chat path: `records` says why a `chat.requests` record failed,
`generation` streams the model into the reply stream (its deltas batched by `token_coalescer`),
`messages` builds what is stored and sent, and `handler` puts them together for one request."""

from alice_orchestrator.chat.handler import ChatHandler, Retriever
from alice_orchestrator.chat.records import InvalidRequest, recover_ids

__all__ = ["ChatHandler", "InvalidRequest", "Retriever", "recover_ids"]
