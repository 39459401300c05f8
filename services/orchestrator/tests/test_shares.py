"""Shared links through the internal API, against real MongoDB: a snapshot frozen at its making,
stored under the token's hash, bounded, scoped to its owner and gone with its conversation."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alice_common.errors import ApiError
from alice_common.wire import Share, SharedConversation, ShareList
from alice_orchestrator import shares
from alice_orchestrator.store import ChatStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_snapshot_keeps_who_said_what_and_when_and_nothing_else():
    stored = {
        "_id": "m1",
        "user_id": "alice",
        "conversation_id": "c1",
        "role": "assistant",
        "content": "Rome.",
        "created_at": T0,
        "sources": [{"document_id": "d1"}],
        "feedback": {"rating": "down", "comment": "private"},
        "model": "m",
    }
    assert shares.snapshot_messages([stored]) == [{"role": "assistant", "content": "Rome.", "created_at": T0}]


def test_a_snapshot_past_its_bounds_is_refused_not_cut_short(monkeypatch):
    monkeypatch.setattr(shares, "MAX_SHARED_CHARS", 5)
    message = {"role": "user", "content": "123456", "created_at": T0}
    with pytest.raises(ApiError) as refused:
        shares.snapshot_messages([message])
    assert (refused.value.status, refused.value.code) == (413, "share_too_large")


async def conversation_with(client, user: str, n: int, title: str = "Rome") -> str:
    created = await client.post("/internal/conversations", params={"user_id": user}, json={"title": title})
    cid = created.json()["id"]
    for i in range(n):
        await add_message(client.store, user, cid, i)
    return cid


async def add_message(store: ChatStore, user: str, cid: str, i: int) -> None:
    await store.insert_message(
        {
            "_id": f"{cid}-m{i:02d}",
            "conversation_id": cid,
            "user_id": user,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"message {i}",
            "status": "completed",
            "created_at": T0 + timedelta(seconds=i),
            "feedback": {"rating": "up", "comment": "secret note"} if i % 2 else None,
        }
    )


def sha(n: int) -> str:
    return f"{n:064x}"


async def share(client, user: str, cid: str, n: int) -> httpx.Response:
    return await client.post(
        f"/internal/conversations/{cid}/shares", params={"user_id": user}, json={"token_sha256": sha(n)}
    )


@pytest.mark.integration
async def test_a_link_reads_the_conversation_as_it_was_until_it_is_revoked(client):
    cid = await conversation_with(client, "alice", 2)
    created = await share(client, "alice", cid, 1)
    assert created.status_code == 201, created.text
    link = Share.model_validate(created.json())
    assert (link.conversation_id, link.title, link.message_count) == (cid, "Rome", 2)

    await add_message(client.store, "alice", cid, 2)  # after the link was made
    await client.patch(f"/internal/conversations/{cid}", params={"user_id": "alice"}, json={"title": "Paris"})
    read = await client.get(f"/internal/shared/{sha(1)}")
    assert read.status_code == 200, read.text
    shared = SharedConversation.model_validate(read.json())
    assert shared.title == "Rome"
    assert [(m.role, m.content) for m in shared.messages] == [
        ("user", "message 0"),
        ("assistant", "message 1"),
    ]
    assert "alice" not in read.text and cid not in read.text and "secret note" not in read.text
    # The store names the link by the token's hash alone.
    stored = await client.store.shares.shares.find_one({"share_id": link.id})
    assert stored["_id"] == sha(1)

    listed = ShareList.model_validate(
        (await client.get(f"/internal/conversations/{cid}/shares", params={"user_id": "alice"})).json()
    )
    assert [s.id for s in listed.items] == [link.id]

    revoked = await client.delete(f"/internal/shares/{link.id}", params={"user_id": "alice"})
    assert revoked.status_code == 204
    gone = await client.get(f"/internal/shared/{sha(1)}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "share_not_found")


@pytest.mark.integration
async def test_someone_elses_conversation_and_link_are_not_found(client):
    cid = await conversation_with(client, "alice", 1)
    link = (await share(client, "alice", cid, 1)).json()
    assert (await share(client, "mallory", cid, 2)).status_code == 404
    listed = await client.get(f"/internal/conversations/{cid}/shares", params={"user_id": "mallory"})
    assert listed.status_code == 404
    revoked = await client.delete(f"/internal/shares/{link['id']}", params={"user_id": "mallory"})
    assert (revoked.status_code, revoked.json()["error"]["code"]) == (404, "share_not_found")
    assert (await client.get(f"/internal/shared/{sha(1)}")).status_code == 200


@pytest.mark.integration
async def test_deleting_the_conversation_ends_its_links(client):
    cid = await conversation_with(client, "alice", 2)
    other = await conversation_with(client, "alice", 1)
    await share(client, "alice", cid, 1)
    await share(client, "alice", other, 2)
    deleted = await client.delete(f"/internal/conversations/{cid}", params={"user_id": "alice"})
    assert deleted.status_code == 204
    assert (await client.get(f"/internal/shared/{sha(1)}")).status_code == 404
    assert (await client.get(f"/internal/shared/{sha(2)}")).status_code == 200


@pytest.mark.integration
async def test_links_are_bounded_per_conversation_and_per_user(client, monkeypatch):
    monkeypatch.setattr(shares, "MAX_SHARES_PER_CONVERSATION", 2)
    monkeypatch.setattr(shares, "MAX_SHARES_PER_USER", 3)
    first = await conversation_with(client, "alice", 1)
    second = await conversation_with(client, "alice", 1)
    answers = [(await share(client, "alice", first, n)).status_code for n in range(3)]
    assert answers == [201, 201, 409]
    assert (await share(client, "alice", second, 10)).status_code == 201
    over = await share(client, "alice", second, 11)
    assert (over.status_code, over.json()["error"]["code"]) == (409, "too_many_shares")
    assert (await share(client, "bob", await conversation_with(client, "bob", 1), 20)).status_code == 201


@pytest.mark.integration
async def test_a_conversation_longer_than_a_snapshot_holds_is_refused(client, monkeypatch):
    monkeypatch.setattr(shares, "MAX_SHARED_MESSAGES", 2)
    cid = await conversation_with(client, "alice", 3)
    refused = await share(client, "alice", cid, 1)
    assert (refused.status_code, refused.json()["error"]["code"]) == (413, "share_too_large")
    assert (await client.get(f"/internal/shared/{sha(1)}")).status_code == 404


@pytest.mark.integration
async def test_a_hash_that_is_not_sha256_is_refused(client):
    cid = await conversation_with(client, "alice", 1)
    bad = await client.post(
        f"/internal/conversations/{cid}/shares", params={"user_id": "alice"}, json={"token_sha256": "x" * 64}
    )
    assert bad.status_code == 422
