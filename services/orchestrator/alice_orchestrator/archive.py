"""Conversations as whole documents for export (`ArchivedConversation`), and importing them back
under new ids owned by the importing user, once per exported conversation, then announced for
search and memory (docs/decisions/0056-export-and-import.md, 0060-idempotent-import.md)."""

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from alice_common.errors import ApiError
from alice_common.events import ChatCompleted
from alice_common.ids import new_id
from alice_common.wire import ArchivedConversation, ArchivedMessage, ChatSettings, ConversationArchive
from pymongo.errors import DuplicateKeyError

from alice_orchestrator.chat.messages import listed_after
from alice_orchestrator.providers.registry import ModelRegistry, UnknownModel
from alice_orchestrator.store import IMPORT_KEY, INDEX_PENDING, ChatStore
from alice_orchestrator.tree import with_parents

log = logging.getLogger(__name__)

# The longest conversation an export writes out; a longer one is refused rather than cut short.
MAX_EXPORTED_MESSAGES = 10_000
# What search and memory index of a message (the dataflow's MAX_TEXT_CHARS): an announced exchange
# stays far below Kafka's record size however long the imported messages are.
ANNOUNCED_CHARS = 20_000

Announce = Callable[[list[ChatCompleted]], Awaitable[None]]


def archived_message(doc: dict) -> ArchivedMessage:
    return ArchivedMessage(
        id=doc["_id"],
        role=doc["role"],
        content=doc.get("content", ""),
        status=doc.get("status", "completed"),
        created_at=doc["created_at"],
        model=doc.get("model") if doc["role"] == "assistant" else None,
        feedback=doc.get("feedback") if doc["role"] == "assistant" else None,
        parent_id=doc["parent_id"],
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
        settings=ChatSettings(**doc.get("settings") or {}),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        messages=[archived_message(m) for m in each_after_its_parent(with_parents(messages))],
    )


def each_after_its_parent(docs: list[dict]) -> list[dict]:
    """`docs` (oldest first, with parents) in time order with every message after its parent, as an
    archive lists them. A message stored before `listed_after` can be stamped before the reply it
    follows (sent while that reply was written); it is exported 1 ms after its parent instead."""
    by_id = {doc["_id"]: doc for doc in docs}
    times: dict[str, datetime] = {}
    for doc in docs:
        chain, walked, node = [], set(), doc
        while node is not None and node["_id"] not in times and node["_id"] not in walked:
            chain.append(node)
            walked.add(node["_id"])
            node = by_id.get(node["parent_id"])
        for node in reversed(chain):
            times[node["_id"]] = listed_after(node["created_at"], times.get(node["parent_id"]))
    order = {doc["_id"]: index for index, doc in enumerate(docs)}
    ordered = sorted(docs, key=lambda doc: (times[doc["_id"]], order[doc["_id"]]))
    return [doc | {"created_at": times[doc["_id"]]} for doc in ordered]


def served_models_only(archive: ConversationArchive, models: ModelRegistry) -> ConversationArchive:
    """The archive with each conversation's model left out where this server does not serve it
    (an export from another server): the conversation then answers with the default model instead
    of failing every reply. The rest of its settings are kept."""
    conversations = []
    for conversation in archive.conversations:
        try:
            models.get(conversation.settings.model)
        except UnknownModel:
            settings = conversation.settings.model_copy(update={"model": None})
            conversation = conversation.model_copy(update={"settings": settings})
        conversations.append(conversation)
    return archive.model_copy(update={"conversations": conversations})


def ascending_ids(n: int) -> list[str]:
    """New ids in ascending order: the store orders by time, then by id, so documents with the same
    time keep the order they are given these in."""
    return sorted(new_id() for _ in range(n))


def import_key(user_id: str, conversation: ArchivedConversation) -> str:
    """The same for the same exported conversation imported by the same user: its id in the
    export or, in a file without ids, its whole content. Never the same for two users."""
    # Without settings, the content is written as it was before conversations had any, so a file
    # imported then is still recognised.
    unset: dict = {"settings": True} if conversation.settings == ChatSettings() else {}
    if not conversation.has_tree():
        unset["messages"] = {"__all__": {"parent_id"}}
    content = conversation.model_dump_json(exclude=unset or None)
    source = ["id", conversation.id] if conversation.id else ["content", content]
    return hashlib.sha256(json.dumps([user_id, *source]).encode()).hexdigest()


def documents_of(
    user_id: str, conversation: ArchivedConversation, conversation_id: str, key: str | None = None
) -> tuple[dict, list[dict]]:
    """The stored documents of an imported conversation: every id new, the owner `user_id`. Each
    reply answers its parent, or in a file without the tree the user message before it, as if it had
    been asked here."""
    ids = ascending_ids(len(conversation.messages))
    new_ids = {m.id: i for m, i in zip(conversation.messages, ids, strict=True) if m.id is not None}
    tree = conversation.has_tree()
    messages: list[dict] = []
    asked: dict | None = None
    by_id: dict[str, dict] = {}
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
        if tree:
            doc["parent_id"] = new_ids.get(message.parent_id) if message.parent_id else None
            asked = by_id.get(doc["parent_id"]) if message.role == "assistant" else None
        by_id[message_id] = doc
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
    if not tree:
        messages = with_parents(messages)
    stored = {
        "_id": conversation_id,
        "user_id": user_id,
        "title": conversation.title,
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }
    if settings := conversation.settings.model_dump(exclude_none=True):
        stored["settings"] = settings
    if key is not None:
        stored |= {IMPORT_KEY: key, INDEX_PENDING: True}
    return stored, messages


@dataclass
class Imported:
    """Stored documents of an import, each conversation once, in the file's order."""

    created: list[dict]
    already_present: list[dict]


async def import_archive(
    store: ChatStore, user_id: str, archive: ConversationArchive, announce: Announce
) -> Imported:
    """Stores every conversation of a validated archive that the user has not imported before, or
    none: a failed write takes back what was written before it is raised. Then announces what is
    not yet indexed, this import's and an earlier one's that could not announce."""
    keys = [import_key(user_id, c) for c in archive.conversations]
    stored = await store.imported_conversations(user_id, sorted(set(keys)))
    ids = ascending_ids(len(archive.conversations))
    created: list[dict] = []
    written: list[str] = []
    messages_of: dict[str, list[dict]] = {}
    try:
        for conversation, key, conversation_id in zip(archive.conversations, keys, ids, strict=True):
            if key in stored:
                continue
            doc, messages = documents_of(user_id, conversation, conversation_id, key)
            written.append(conversation_id)
            try:
                await store.insert_conversation(doc, messages)
            except DuplicateKeyError:  # the same import at the same time stored it first
                stored |= await store.imported_conversations(user_id, [key])
                if key not in stored:  # ... and has taken it back since
                    raise ApiError(409, "import_conflict", "the same file is being imported; retry") from None
                continue
            stored[key] = doc
            created.append(doc)
            messages_of[conversation_id] = messages
    except BaseException:
        try:
            await store.remove_conversations(user_id, written)
        except Exception:
            log.exception("an import failed and what it wrote could not be removed: %s", written)
        raise
    created_ids = {doc["_id"] for doc in created}
    present = [stored[key] for key in dict.fromkeys(keys) if stored[key]["_id"] not in created_ids]
    await _announce_pending(store, user_id, archive, keys, stored, messages_of, announce)
    return Imported(created, present)


async def _announce_pending(
    store: ChatStore,
    user_id: str,
    archive: ConversationArchive,
    keys: list[str],
    stored: dict[str, dict],
    messages_of: dict[str, list[dict]],
    announce: Announce,
) -> None:
    """Hands the messages of every conversation of the file still marked pending to the indexing
    path of live messages (`chat.completed`), then clears the mark. Announcing twice is harmless."""
    events: list[ChatCompleted] = []
    pending: list[str] = []
    for conversation, key in zip(archive.conversations, keys, strict=True):
        doc = stored[key]
        if not doc.get(INDEX_PENDING) or doc["_id"] in pending:
            continue
        pending.append(doc["_id"])
        messages = messages_of.get(doc["_id"], [])
        if doc["_id"] not in messages_of and conversation.messages:
            # Stored by another import: the imported messages are its first ones.
            messages = await store.all_messages(user_id, doc["_id"], len(conversation.messages))
        events += completed_events(user_id, doc["_id"], messages)
    if not pending:
        return
    try:
        await announce(events)
    except Exception as exc:
        log.warning("cannot announce %d imported conversations: %s", len(pending), exc)
        raise ApiError(
            503,
            "events_unavailable",
            "the conversations are stored but cannot be indexed for search right now; "
            "import the same file again to finish",
        ) from exc
    await store.set_indexed(user_id, pending)


def completed_events(user_id: str, conversation_id: str, messages: list[dict]) -> list[ChatCompleted]:
    """The messages (oldest first) as live chat announces them: each reply with the user message it
    answers, a user message without a reply alone, a reply without one alone."""
    by_id = {m["_id"]: m for m in messages}
    answered = {m.get("reply_to") for m in messages if m["role"] == "assistant"}
    events: list[ChatCompleted] = []
    for message in messages:
        if message["role"] == "assistant":
            events.append(_exchange(user_id, conversation_id, by_id.get(message.get("reply_to")), message))
        elif message["_id"] not in answered:
            events.append(_exchange(user_id, conversation_id, message, None))
    return events


def _exchange(user_id: str, conversation_id: str, question: dict | None, reply: dict | None) -> ChatCompleted:
    first = question or reply
    last = reply or question
    return ChatCompleted(
        conversation_id=conversation_id,
        user_id=user_id,
        user_message_id=first["_id"],
        assistant_message_id=last["_id"],
        reply_id=last["_id"],
        user_content=question["content"][:ANNOUNCED_CHARS] if question else "",
        assistant_content=reply["content"][:ANNOUNCED_CHARS] if reply else "",
        status=reply.get("status", "completed") if reply else "completed",
        model=(reply.get("model") or "") if reply else "",
        occurred_at=last["created_at"],
        imported=True,
    )
