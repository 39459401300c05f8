"""Export and import of whole conversations through the internal API, against real MongoDB: the
export pages through every conversation, an import stores new ids for its user, all or nothing."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alice_common.wire import ArchivedConversation, ArchivePage, ConversationArchive
from alice_orchestrator.archive import documents_of
from alice_orchestrator.store import ChatStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def archive(*conversations: dict) -> dict:
    return {"format": "alice.conversations", "version": 1, "conversations": list(conversations)}


def conversation(title: str, n_messages: int = 2, **fields) -> dict:
    messages = []
    for i in range(n_messages):
        message = {"role": "user" if i % 2 == 0 else "assistant", "content": f"{title} {i}"}
        message["created_at"] = (T0 + timedelta(seconds=i)).isoformat()
        if message["role"] == "assistant":
            message["model"] = "test-model"
        messages.append(message)
    created = {"created_at": T0.isoformat(), "updated_at": (T0 + timedelta(hours=1)).isoformat()}
    return {"title": title, **created, "messages": messages, **fields}


def test_imported_documents_get_new_ids_keep_the_order_and_link_each_reply_to_its_question():
    same_time = T0.isoformat()
    given = conversation("c", 4)
    for message in given["messages"]:
        message["created_at"] = same_time  # only the ids can keep these in order
    given["id"] = given["messages"][0]["id"] = "a" * 32
    stored, messages = documents_of("me", ArchivedConversation.model_validate(given), "b" * 32)

    assert (stored["_id"], stored["user_id"]) == ("b" * 32, "me")
    assert "a" * 32 not in {m["_id"] for m in messages}
    assert [m["content"] for m in sorted(messages, key=lambda m: (m["created_at"], m["_id"]))] == [
        "c 0",
        "c 1",
        "c 2",
        "c 3",
    ]
    assert {m["conversation_id"] for m in messages} == {stored["_id"]}
    question, reply = messages[0], messages[1]
    assert question["reply_id"] == reply["_id"] == reply["reply_id"]
    assert reply["reply_to"] == question["_id"]
    assert "model" not in question and reply["model"] == "test-model"


@pytest.mark.parametrize(
    "change",
    [
        {"user_id": "someone"},
        {"pinned": "true"},
        {"created_at": 1767225600},
        {"messages": [{"role": "system", "content": "x", "created_at": T0.isoformat()}]},
        {"messages": [{"role": "user", "content": "x", "created_at": T0.isoformat(), "model": "m"}]},
        {
            "messages": [
                {"role": "user", "content": "late", "created_at": (T0 + timedelta(1)).isoformat()},
                {"role": "assistant", "content": "early", "created_at": T0.isoformat()},
            ]
        },
    ],
)
def test_an_archive_refuses_unknown_fields_other_types_roles_and_messages_out_of_order(change):
    with pytest.raises(ValueError):
        ConversationArchive.model_validate(archive({**conversation("c"), **change}))


async def _import(client, user: str, body: dict) -> httpx.Response:
    return await client.post("/internal/conversations/import", params={"user_id": user}, json=body)


@pytest.mark.integration
async def test_import_then_export_gives_back_the_same_conversations(client):
    given = [  # created at the same time: only the ids can keep them in the file's order
        conversation("first", 3, pinned=True),
        conversation("second", 0, archived=True),
        conversation("third", 4),
    ]
    given[2]["messages"][1]["feedback"] = {"rating": "down", "comment": "wrong", "updated_at": T0.isoformat()}
    given[2]["messages"][3]["status"] = "stopped"
    imported = await _import(client, "alice", archive(*given))
    assert imported.status_code == 201, imported.text
    created = imported.json()["conversations"]
    assert [c["title"] for c in created] == ["first", "second", "third"]

    exported, after = [], None
    while True:
        params = {"user_id": "alice", "limit": 2, **({"after": after} if after else {})}
        page = ArchivePage.model_validate(
            (await client.get("/internal/conversations/export", params=params)).json()
        )
        assert page.total == 3
        exported += page.items
        if not (after := page.next_after):
            break
    assert [c.id for c in exported] == [c["id"] for c in created]
    expected = [ArchivedConversation.model_validate(c) for c in given]
    without_ids = {"id": True, "messages": {"__all__": {"id"}}}
    assert [c.model_dump(exclude=without_ids) for c in exported] == [
        c.model_dump(exclude=without_ids) for c in expected
    ]

    one = await client.get(f"/internal/conversations/{created[2]['id']}/export", params={"user_id": "alice"})
    assert ArchivedConversation.model_validate(one.json()) == exported[2]
    theirs = await client.get(f"/internal/conversations/{created[2]['id']}/export", params={"user_id": "bob"})
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "conversation_not_found")
    none = await client.get("/internal/conversations/export", params={"user_id": "bob"})
    assert none.json() == {"items": [], "next_after": None, "total": 0}


@pytest.mark.integration
async def test_an_import_that_fails_midway_leaves_nothing_behind(client, monkeypatch):
    store: ChatStore = client.store
    real_insert, calls = store.insert_conversation, []

    async def failing_second(conversation, messages):
        calls.append(conversation["_id"])
        await real_insert(conversation, messages)
        if len(calls) == 2:
            raise RuntimeError("the store went away")

    monkeypatch.setattr(store, "insert_conversation", failing_second)
    with pytest.raises(RuntimeError):
        await _import(client, "alice", archive(conversation("a"), conversation("b"), conversation("c")))
    assert len(calls) == 2
    assert await store.count_conversations("alice") == 0
    assert await store.messages.count_documents({"user_id": "alice"}) == 0

    refused = await _import(client, "alice", {**archive(conversation("a")), "version": 2})
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "validation_error")
    assert await store.count_conversations("alice") == 0
