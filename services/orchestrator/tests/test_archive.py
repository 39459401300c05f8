"""Export and import of whole conversations through the internal API, against real MongoDB: the
export pages through every conversation, an import stores new ids for its user, all or nothing,
once per exported conversation and user, and announces the imported messages for search."""

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alice_common.wire import ArchivedConversation, ArchivePage, ConversationArchive
from alice_orchestrator.archive import (
    ANNOUNCED_CHARS,
    completed_events,
    documents_of,
    each_after_its_parent,
    import_key,
)
from alice_orchestrator.store import ChatStore
from pymongo.errors import DuplicateKeyError

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
        conversation(
            "third", 4, settings={"system_prompt": "Be brief.", "temperature": 0.2, "max_tokens": 64}
        ),
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
    without_ids = {"id": True, "messages": {"__all__": {"id", "parent_id"}}}
    assert [c.model_dump(exclude=without_ids) for c in exported] == [
        c.model_dump(exclude=without_ids) for c in expected
    ]
    # A file without the tree: each message follows the one before it, as it was shown.
    assert [_parent_positions(c) for c in exported] == [[None, 0, 1], [], [None, 0, 1, 2]]

    one = await client.get(f"/internal/conversations/{created[2]['id']}/export", params={"user_id": "alice"})
    assert ArchivedConversation.model_validate(one.json()) == exported[2]
    theirs = await client.get(f"/internal/conversations/{created[2]['id']}/export", params={"user_id": "bob"})
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "conversation_not_found")
    none = await client.get("/internal/conversations/export", params={"user_id": "bob"})
    assert none.json() == {"items": [], "next_after": None, "total": 0}


def _parent_positions(conversation: ArchivedConversation) -> list[int | None]:
    position = {m.id: i for i, m in enumerate(conversation.messages)}
    return [None if m.parent_id is None else position[m.parent_id] for m in conversation.messages]


def branched_conversation() -> dict:
    """u0 → a1, a1 regenerated as a2, u0 edited as u3 → a4, and u5 after a1."""
    given = conversation("branched", 6)
    roles = ["user", "assistant", "assistant", "user", "assistant", "user"]
    parents = [None, "m0", "m0", None, "m3", "m1"]
    for i, message in enumerate(given["messages"]):
        message |= {"id": f"m{i}", "role": roles[i], "parent_id": parents[i]}
        message.pop("model", None)
        if parents[i] is None:
            message.pop("parent_id")
    return given


@pytest.mark.integration
async def test_a_conversation_with_versions_round_trips_through_export_and_import(client):
    imported = await _import(client, "alice", archive(branched_conversation()))
    assert imported.status_code == 201, imported.text
    new_id = imported.json()["conversations"][0]["id"]
    exported = ArchivedConversation.model_validate(
        (await client.get(f"/internal/conversations/{new_id}/export", params={"user_id": "alice"})).json()
    )
    assert _parent_positions(exported) == [None, 0, 0, None, 3, 1]
    again = await _import(client, "bob", archive(exported.model_dump(mode="json", exclude_none=True)))
    reexported = ArchivedConversation.model_validate(
        (
            await client.get(
                f"/internal/conversations/{again.json()['conversations'][0]['id']}/export",
                params={"user_id": "bob"},
            )
        ).json()
    )
    without_ids = {"id": True, "messages": {"__all__": {"id", "parent_id"}}}
    assert reexported.model_dump(exclude=without_ids) == exported.model_dump(exclude=without_ids)
    assert _parent_positions(reexported) == _parent_positions(exported)
    # The branch shown after an import is the newest message's.
    branch = await client.get(f"/internal/conversations/{new_id}/branch", params={"user_id": "alice"})
    assert [m["content"] for m in branch.json()["items"]] == ["branched 0", "branched 1", "branched 5"]
    first, reply = branch.json()["items"][:2]
    assert len(first["siblings"]) == 2 and first["siblings"][0] == first["id"]
    assert len(reply["siblings"]) == 2 and reply["siblings"][0] == reply["id"]


@pytest.mark.parametrize(
    "parents",
    [["later", None], [None, "m9"], [None, "m0", "m1"]],
    ids=["parent listed after", "unknown parent", "reply answering a reply"],
)
def test_an_archive_refuses_parents_that_are_not_earlier_messages_or_replies_to_replies(parents):
    given = conversation("c", len(parents))
    for i, (message, parent) in enumerate(zip(given["messages"], parents, strict=True)):
        message |= {"id": "later" if i == 1 and parents[0] == "later" else f"m{i}", "parent_id": parent}
    given["messages"][-1]["role"] = "assistant"
    with pytest.raises(ValueError):
        ConversationArchive.model_validate(archive(given))


@pytest.mark.integration
async def test_an_imported_model_this_server_does_not_serve_is_left_out_and_the_rest_kept(client):
    served = client.ctx.models.default.name
    given = [
        conversation("elsewhere", settings={"model": "a-model-served-elsewhere", "temperature": 1.5}),
        conversation("here", settings={"model": served}),
    ]
    imported = await _import(client, "alice", archive(*given))
    assert imported.status_code == 201, imported.text
    settings = [c["settings"] for c in imported.json()["conversations"]]
    assert settings[0] == {"model": None, "system_prompt": None, "temperature": 1.5, "max_tokens": None}
    assert settings[1]["model"] == served


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


# -- importing once (docs/decisions/0060-idempotent-import.md) -----------------------------------


def test_the_import_key_is_the_exported_id_and_the_user_or_else_the_whole_content():
    with_id = ArchivedConversation.model_validate({**conversation("c"), "id": "a" * 32})
    renamed = ArchivedConversation.model_validate({**conversation("other title"), "id": "a" * 32})
    assert import_key("ann", with_id) == import_key("ann", renamed), "the same exported conversation"
    assert import_key("ann", with_id) != import_key("bob", with_id)
    without_id = ArchivedConversation.model_validate(conversation("c"))
    assert import_key("ann", without_id) == import_key(
        "ann", ArchivedConversation.model_validate(conversation("c"))
    )
    assert import_key("ann", without_id) != import_key(
        "ann", ArchivedConversation.model_validate(conversation("d"))
    )
    assert import_key("ann", without_id) != import_key("ann", with_id)


def test_imported_messages_are_announced_as_live_exchanges_for_search_but_not_analytics():
    given = conversation("c", 2)
    given["messages"] = [
        {"role": "assistant", "content": "welcome", "created_at": T0.isoformat()},
        {"role": "user", "content": "q1", "created_at": T0.isoformat()},
        {"role": "user", "content": "q2 " + "x" * 30_000, "created_at": T0.isoformat()},
        {
            "role": "assistant",
            "content": "a2",
            "created_at": T0.isoformat(),
            "model": "m",
            "status": "stopped",
        },
        {"role": "user", "content": "q3", "created_at": T0.isoformat()},
    ]
    stored, messages = documents_of("me", ArchivedConversation.model_validate(given), "c" * 32)
    ids = [m["_id"] for m in messages]
    events = completed_events("me", stored["_id"], messages)

    assert [(e.user_content[:2], e.assistant_content) for e in events] == [
        ("", "welcome"),
        ("q1", ""),
        ("q2", "a2"),
        ("q3", ""),
    ]
    assert all(e.imported and e.user_id == "me" and e.conversation_id == "c" * 32 for e in events)
    assert (events[2].user_message_id, events[2].assistant_message_id, events[2].reply_id) == (
        ids[2],
        ids[3],
        ids[3],
    )
    assert (events[2].status, events[2].model) == ("stopped", "m")
    assert len(events[2].user_content) == ANNOUNCED_CHARS
    assert events[1].user_message_id == ids[1] and events[0].assistant_message_id == ids[0]


async def _titles(store: ChatStore, user: str) -> list[str]:
    return sorted([doc["title"] async for doc in store.conversations.find({"user_id": user})])


@pytest.mark.integration
async def test_importing_the_same_file_twice_stores_it_once_and_says_so(client):
    store: ChatStore = client.store
    file = archive({**conversation("kept", 3), "id": "a" * 32}, conversation("no id", 2))
    first = await _import(client, "alice", file)
    assert first.status_code == 201, first.text
    assert [c["title"] for c in first.json()["conversations"]] == ["kept", "no id"]
    assert first.json()["already_present"] == []
    assert [e.user_content for e in client.announced] == ["kept 0", "kept 2", "no id 0"]

    again = await _import(client, "alice", file)
    assert again.status_code == 201, again.text
    assert again.json()["conversations"] == []
    assert again.json()["already_present"] == first.json()["conversations"]
    assert await _titles(store, "alice") == ["kept", "no id"]
    assert await store.messages.count_documents({"user_id": "alice"}) == 5
    assert len(client.announced) == 3, "indexed once"

    edited = archive({**conversation("kept", 1), "id": "a" * 32, "title": "renamed"}, conversation("new", 2))
    mixed = (await _import(client, "alice", edited)).json()
    assert [c["title"] for c in mixed["conversations"]] == ["new"]
    assert [c["title"] for c in mixed["already_present"]] == ["kept"], "the same exported conversation"

    theirs = await _import(client, "bob", file)
    assert [c["title"] for c in theirs.json()["conversations"]] == ["kept", "no id"], "Bob's own copies"
    assert theirs.json()["already_present"] == []
    assert await _titles(store, "alice") == ["kept", "new", "no id"], "Alice's untouched"


@pytest.mark.integration
async def test_two_imports_of_the_same_file_at_once_store_it_once(client, monkeypatch):
    store: ChatStore = client.store
    real_insert, refused = store.insert_conversation, []

    async def counting_refusals(conversation, messages):
        try:
            await real_insert(conversation, messages)
        except DuplicateKeyError:
            refused.append(conversation["title"])
            raise

    monkeypatch.setattr(store, "insert_conversation", counting_refusals)
    file = archive(*[{**conversation(f"c{i}", 4), "id": f"{i:032x}"} for i in range(6)])
    answers = await asyncio.gather(*[_import(client, "alice", file) for _ in range(3)])
    assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
    created = [c["id"] for a in answers for c in a.json()["conversations"]]
    present = [c["id"] for a in answers for c in a.json()["already_present"]]
    assert len(created) == len(set(created)) == 6 and sorted(present) == sorted(created * 2)
    assert refused, "the imports did race: the unique key refused the later ones"
    assert await _titles(store, "alice") == [f"c{i}" for i in range(6)]
    assert await store.messages.count_documents({"user_id": "alice"}) == 24
    assert {m["conversation_id"] async for m in store.messages.find({"user_id": "alice"})} == set(created)


@pytest.mark.integration
async def test_an_import_that_cannot_be_announced_is_finished_by_importing_it_again(client):
    store: ChatStore = client.store
    file = archive({**conversation("c", 2), "id": "a" * 32})
    client.kafka["down"] = True
    failed = await _import(client, "alice", file)
    assert (failed.status_code, failed.json()["error"]["code"]) == (503, "events_unavailable")
    assert client.announced == []

    client.kafka["down"] = False
    retried = (await _import(client, "alice", file)).json()
    assert retried["conversations"] == [] and [c["title"] for c in retried["already_present"]] == ["c"]
    assert [(e.user_content, e.assistant_content) for e in client.announced] == [("c 0", "c 1")]
    assert client.announced[0].conversation_id == retried["already_present"][0]["id"]
    await _import(client, "alice", file)
    assert len(client.announced) == 1, "announced once it went through"
    assert await store.count_conversations("alice") == 1


def test_an_export_lists_a_message_stamped_before_its_parent_after_it():
    """Stored before the orchestrator stamped messages after what they follow: a message sent while
    the reply before it was being written. The archive lists it after that reply (1 ms later), as
    its validator and an import require; everything else keeps its time and place."""
    t0 = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    ms = timedelta(milliseconds=1)
    docs = [
        {"_id": "u1", "role": "user", "parent_id": None, "created_at": t0},
        {"_id": "u2", "role": "user", "parent_id": "r1", "created_at": t0 + 100 * ms},  # sent early
        {"_id": "r1", "role": "assistant", "parent_id": "u1", "created_at": t0 + 900 * ms},
        {"_id": "r2", "role": "assistant", "parent_id": "u2", "created_at": t0 + 1200 * ms},
    ]
    listed = each_after_its_parent(docs)
    assert [d["_id"] for d in listed] == ["u1", "r1", "u2", "r2"]
    assert [d["created_at"] - t0 for d in listed] == [0 * ms, 900 * ms, 901 * ms, 1200 * ms]
    assert each_after_its_parent(listed) == listed
