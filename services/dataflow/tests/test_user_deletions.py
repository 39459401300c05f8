"""`users.deleted` in the dataflow: documents, files, conversation tombstones and analytics facts
of the user go, another user's stay; a write racing the purge is purged again. Real MongoDB and
GridFS; Weaviate is replaced by a recorder of the tenants dropped."""

import pytest
from alice_common import deleted_users, vectorstore
from alice_common.events import ChatCompleted, UserDeleted
from alice_dataflow.analytics import Analytics
from alice_dataflow.deletions import ConversationDeletions
from alice_dataflow.documents import DocumentStore
from alice_dataflow.user_deletions import UserDeletions
from devstack.testing import unique_name
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient


@pytest.fixture
async def world(infra, monkeypatch):
    client = AsyncMongoClient(infra.mongodb_url)
    db = client[unique_name("dataflow-purge")]
    dropped: list[str] = []

    async def drop_tenants(weaviate, user_id):
        dropped.append(user_id)

    monkeypatch.setattr(vectorstore, "delete_user_data", drop_tenants)
    store, uploads, analytics = DocumentStore(db), AsyncGridFSBucket(db, "uploads"), Analytics(db)
    deletions = UserDeletions(
        db, None, store, uploads, ConversationDeletions(db, None, store, uploads), analytics
    )
    try:
        yield db, store, uploads, analytics, deletions, dropped
    finally:
        await client.drop_database(db.name)
        await client.close()


def completed(user_id: str, reply_id: str) -> ChatCompleted:
    return ChatCompleted(
        conversation_id=f"{user_id}-c", user_id=user_id, user_message_id=f"{reply_id}-u",
        assistant_message_id=f"{reply_id}-a", reply_id=reply_id, user_content="hi", assistant_content="hello",
    )  # fmt: skip


async def data_of(db, store, uploads, analytics, user_id: str) -> None:
    blob = await uploads.upload_from_stream("n.txt", b"notes", metadata={"user_id": user_id})
    await store.register(user_id, f"{user_id}-d", "n.txt", "text/plain", 5, str(blob))
    await db["deleted_conversations"].insert_one({"_id": f"{user_id}:x", "user_id": user_id})
    await analytics.record(completed(user_id, f"{user_id}-r"))


async def held_by(db, user_id: str) -> dict[str, int]:
    return {
        "documents": await db["documents"].count_documents({"user_id": user_id}),
        "files": await db["uploads.files"].count_documents({"metadata.user_id": user_id}),
        "tombstones": await db["deleted_conversations"].count_documents({"user_id": user_id}),
        "facts": await db["analytics_replies"].count_documents({"user_id": user_id}),
    }


async def test_purges_the_user_and_keeps_the_others(world):
    db, store, uploads, analytics, deletions, dropped = world
    alice, bob = unique_name("alice"), unique_name("bob")
    for user in (alice, bob):
        await data_of(db, store, uploads, analytics, user)
    assert (await analytics.stats(1))["totals"]["replies"] == 2

    for _ in range(2):  # a redelivery is harmless
        await deletions.handle(UserDeleted(user_id=alice), None)

    assert await held_by(db, alice) == {"documents": 0, "files": 0, "tombstones": 0, "facts": 0}
    assert await held_by(db, bob) == {"documents": 1, "files": 1, "tombstones": 1, "facts": 1}
    assert dropped == [alice, alice]
    assert (await analytics.stats(1))["totals"]["replies"] == 1
    assert await deleted_users.is_deleted(db, alice) and not await deleted_users.is_deleted(db, bob)
    assert await db[deleted_users.COLLECTION].count_documents({"_id": alice}) == 0  # hashed


async def test_an_event_of_a_deleted_user_is_skipped_and_a_racing_write_is_purged(world):
    db, _, _, analytics, deletions, dropped = world
    alice = unique_name("alice")
    await deleted_users.record(db, alice)
    handled: list = []

    async def record(event, record):
        handled.append(event)
        await analytics.record(event)

    await deletions.purging_late_writes(record)(completed(alice, "late"), None)
    assert handled == []
    assert (await held_by(db, alice))["facts"] == 0

    bob = unique_name("bob")

    async def deleted_while_handled(event, record):
        await analytics.record(event)
        await deleted_users.record(db, bob)  # the purge ran while this reply was being recorded

    await deletions.purging_late_writes(deleted_while_handled)(completed(bob, "racing"), None)
    assert (await held_by(db, bob))["facts"] == 0
    assert dropped == [bob]
