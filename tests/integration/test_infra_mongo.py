"""The MongoDB wire-protocol server (FerretDB natively, MongoDB in containers) behind alice_common."""

import pytest
from alice_common.mongo import DuplicateError, insert_unique

pytestmark = pytest.mark.integration


async def test_insert_find_update_with_a_unique_index(db):
    users = db["users"]
    await users.create_index("email_lower", unique=True)

    await insert_unique(users, {"_id": "u1", "email_lower": "ann@example.com", "display_name": "Ann"})
    await insert_unique(users, {"_id": "u2", "email_lower": "bob@example.com", "display_name": "Bob"})

    found = await users.find_one({"email_lower": "ann@example.com"})
    assert found == {"_id": "u1", "email_lower": "ann@example.com", "display_name": "Ann"}

    result = await users.update_one({"_id": "u1"}, {"$set": {"display_name": "Ann B."}})
    assert result.modified_count == 1
    assert (await users.find_one({"_id": "u1"}))["display_name"] == "Ann B."
    assert sorted([doc["_id"] async for doc in users.find({})]) == ["u1", "u2"]


async def test_duplicate_key_becomes_a_domain_error(db):
    users = db["users"]
    await users.create_index("email_lower", unique=True)
    await insert_unique(users, {"_id": "u1", "email_lower": "ann@example.com"})

    with pytest.raises(DuplicateError) as raised:
        await insert_unique(users, {"_id": "u2", "email_lower": "ann@example.com"})
    assert raised.value.collection == "users"

    with pytest.raises(DuplicateError):  # the same _id twice is a duplicate too
        await insert_unique(users, {"_id": "u1", "email_lower": "other@example.com"})

    # The failed inserts left nothing behind.
    assert [doc["_id"] async for doc in users.find({})] == ["u1"]
