"""Conversations as whole documents for export (`ArchivedConversation`), and importing them back
under new ids owned by the importing user (docs/decisions/0056-export-and-import.md)."""

import logging

from alice_common.errors import ApiError
from alice_common.ids import new_id
from alice_common.wire import ArchivedConversation, ArchivedMessage, ConversationArchive

from alice_orchestrator.store import ChatStore

log = logging.getLogger(__name__)

# The longest conversation an export writes out; a longer one is refused rather than cut short.
MAX_EXPORTED_MESSAGES = 10_000


def archived_message(doc: dict) -> ArchivedMessage:
    return ArchivedMessage(
        id=doc["_id"],
        role=doc["role"],
        content=doc.get("content", ""),
        status=doc.get("status", "completed"),
        created_at=doc["created_at"],
        model=doc.get("model") if doc["role"] == "assistant" else None,
        feedback=doc.get("feedback") if doc["role"] == "assistant" else None,
    )


async def archived_conversation(store: ChatStore, user_id: str, doc: dict) -> ArchivedConversation:
    messages = await store.all_messages(user_id, doc["_id"], MAX_EXPORTED_MESSAGES + 1)
    if len(messages) > MAX_EXPORTED_MESSAGES:
        raise ApiError(
            413, "export_too_large", f"a conversation exports at most {MAX_EXPORTED_MESSAGES} messages"
        )
    return ArchivedConversation(
        id=doc["_id"],
        title=doc.get("title"),
        pinned=bool(doc.get("pinned")),
        archived=bool(doc.get("archived")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        messages=[archived_message(m) for m in messages],
    )


def ascending_ids(n: int) -> list[str]:
    """New ids in ascending order: the store orders by time, then by id, so documents with the same
    time keep the order they are given these in."""
    return sorted(new_id() for _ in range(n))


def documents_of(
    user_id: str, conversation: ArchivedConversation, conversation_id: str
) -> tuple[dict, list[dict]]:
    """The stored documents of an imported conversation: every id new, the owner `user_id`. Each
    reply answers the user message before it, as if it had been asked here."""
    ids = ascending_ids(len(conversation.messages))
    messages: list[dict] = []
    asked: dict | None = None
    for message_id, message in zip(ids, conversation.messages, strict=True):
        doc = {
            "_id": message_id,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "role": message.role,
            "content": message.content,
            "status": message.status,
            "created_at": message.created_at,
        }
        if message.role == "user":
            doc["reply_id"] = None
            asked = doc
        else:
            doc |= {"reply_id": message_id, "reply_to": asked["_id"] if asked else None}
            if asked is not None and asked["reply_id"] is None:
                asked["reply_id"] = message_id
            if message.model is not None:
                doc["model"] = message.model
            if message.feedback is not None:
                doc["feedback"] = message.feedback.model_dump(exclude_none=True)
        messages.append(doc)
    stored = {
        "_id": conversation_id,
        "user_id": user_id,
        "title": conversation.title,
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }
    return stored, messages


async def import_archive(store: ChatStore, user_id: str, archive: ConversationArchive) -> list[dict]:
    """Stores every conversation of a validated archive, or none: a failed write takes back what
    was written before it is raised."""
    ids = ascending_ids(len(archive.conversations))
    documents = [documents_of(user_id, c, i) for c, i in zip(archive.conversations, ids, strict=True)]
    written: list[str] = []
    try:
        for conversation, messages in documents:
            written.append(conversation["_id"])
            await store.insert_conversation(conversation, messages)
    except BaseException:
        try:
            await store.remove_conversations(user_id, written)
        except Exception:
            log.exception("an import failed and what it wrote could not be removed: %s", written)
        raise
    return [conversation for conversation, _ in documents]
