"""The internal API the backend reads through, against real MongoDB and Redis."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from alice_common.wire import (
    Conversation,
    ConversationPage,
    Feedback,
    FeedbackStats,
    MessagePage,
    PromptSize,
    ReplyRef,
    ServedModels,
)
from alice_orchestrator.model_health import ModelHealth
from alice_orchestrator.model_list import ExtraModel
from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, default_model
from alice_orchestrator.store import ChatStore

pytestmark = pytest.mark.integration

NO_TOKEN = {"X-Internal-Token": ""}  # overrides the `client` fixture's token


@pytest.fixture
def env(client):
    """conftest's `client` (the internal API over real MongoDB and Redis) with its ChatStore."""
    return client, client.store


async def add_messages(store: ChatStore, user: str, conversation: str, n: int) -> list[str]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(n):
        mid = f"{conversation}-m{i:02d}"
        ids.append(mid)
        await store.insert_message(
            {
                "_id": mid,
                "conversation_id": conversation,
                "user_id": user,
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"message {i}",
                "status": "completed",
                "created_at": base + timedelta(seconds=i),
                "reply_id": f"{conversation}-r{i}",
            }
        )
    return ids


async def test_token_is_required(env):
    client, _ = env
    assert (
        await client.get("/internal/conversations", params={"user_id": "u"}, headers=NO_TOKEN)
    ).status_code == 401
    wrong = await client.get(
        "/internal/conversations", params={"user_id": "u"}, headers={"X-Internal-Token": "x"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"


async def test_conversation_crud_is_scoped_to_the_user(env):
    client, _ = env
    created = await client.post(
        "/internal/conversations", params={"user_id": "alice"}, json={"title": "Trip"}
    )
    assert created.status_code == 201
    cid = created.json()["id"]
    assert created.json()["title"] == "Trip"

    for user, status in (("alice", 200), ("bob", 404)):
        got = await client.get(f"/internal/conversations/{cid}", params={"user_id": user})
        assert got.status_code == status
    assert (await client.get(f"/internal/conversations/{cid}", params={"user_id": "bob"})).json()["error"][
        "code"
    ] == "conversation_not_found"

    renamed = await client.patch(
        f"/internal/conversations/{cid}",
        params={"user_id": "alice"},
        json={"title": "  Rome  trip "},
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Rome trip"
    stolen = await client.patch(
        f"/internal/conversations/{cid}", params={"user_id": "bob"}, json={"title": "x"}
    )
    assert stolen.status_code == 404

    listed = await client.get("/internal/conversations", params={"user_id": "bob"})
    assert listed.json()["items"] == []
    assert (
        await client.delete(f"/internal/conversations/{cid}", params={"user_id": "bob"})
    ).status_code == 404
    assert (
        await client.delete(f"/internal/conversations/{cid}", params={"user_id": "alice"})
    ).status_code == 204
    assert (
        await client.get(f"/internal/conversations/{cid}", params={"user_id": "alice"})
    ).status_code == 404


async def test_bad_input_is_a_json_4xx(env):
    client, _ = env
    no_user = await client.get("/internal/conversations")
    assert no_user.status_code == 422 and no_user.json()["error"]["code"] == "validation_error"
    bad_limit = await client.get("/internal/conversations", params={"user_id": "a", "limit": 0})
    assert bad_limit.status_code == 422
    bad_body = await client.post(
        "/internal/conversations",
        params={"user_id": "a"},
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert bad_body.status_code == 400 and bad_body.json()["error"]["code"] == "malformed_json"
    blank = await client.post("/internal/conversations", params={"user_id": "a"}, json={})
    cid = blank.json()["id"]
    blank_title = await client.patch(
        f"/internal/conversations/{cid}", params={"user_id": "a"}, json={"title": "   "}
    )
    assert blank_title.status_code == 422
    unknown = await client.get("/internal/nothing-here")
    assert unknown.status_code == 404 and "error" in unknown.json()


async def test_conversations_list_newest_first_with_pagination(env):
    client, store = env
    ids = []
    for i in range(5):
        r = await client.post("/internal/conversations", params={"user_id": "pager"}, json={"title": f"c{i}"})
        ids.append(r.json()["id"])
        await store.update_conversation("pager", ids[-1], {})  # distinct updated_at, in creation order
    page = await client.get("/internal/conversations", params={"user_id": "pager", "limit": 3})
    assert [c["id"] for c in page.json()["items"]] == ids[::-1][:3]
    nxt = page.json()["next_before"]
    rest = await client.get("/internal/conversations", params={"user_id": "pager", "limit": 3, "before": nxt})
    assert [c["id"] for c in rest.json()["items"]] == ids[::-1][3:]
    assert rest.json()["next_before"] is None


async def test_messages_paginate_backwards_and_come_oldest_first(env):
    client, store = env
    cid = (await client.post("/internal/conversations", params={"user_id": "u1"}, json={})).json()["id"]
    ids = await add_messages(store, "u1", cid, 7)
    url = f"/internal/conversations/{cid}/messages"
    newest = await client.get(url, params={"user_id": "u1", "limit": 3})
    assert [m["id"] for m in newest.json()["items"]] == ids[4:7]
    older = await client.get(
        url, params={"user_id": "u1", "limit": 3, "before": newest.json()["next_before"]}
    )
    assert [m["id"] for m in older.json()["items"]] == ids[1:4]
    oldest = await client.get(
        url, params={"user_id": "u1", "limit": 3, "before": older.json()["next_before"]}
    )
    assert [m["id"] for m in oldest.json()["items"]] == ids[0:1]
    assert oldest.json()["next_before"] is None
    assert (await client.get(url, params={"user_id": "u2"})).status_code == 404
    assert (await client.get(url, params={"user_id": "u1", "before": "nope"})).status_code == 404


async def test_replies_lookup_and_delete_removes_messages(env):
    client, store = env
    cid = (await client.post("/internal/conversations", params={"user_id": "u1"}, json={})).json()["id"]
    await store.insert_message(
        {
            "_id": "reply-1",
            "conversation_id": cid,
            "user_id": "u1",
            "role": "assistant",
            "content": "hi",
            "status": "stopped",
            "created_at": datetime.now(UTC),
            "reply_id": "reply-1",
            "reply_to": "msg-1",
            "finish_reason": "length",
        }
    )
    reply = await client.get("/internal/replies/reply-1", params={"user_id": "u1"})
    assert reply.json() == {
        "reply_id": "reply-1",
        "conversation_id": cid,
        "message_id": "msg-1",
        "status": "stopped",
        "finish_reason": "length",
    }
    assert (await client.get("/internal/replies/reply-1", params={"user_id": "u2"})).status_code == 404
    await client.delete(f"/internal/conversations/{cid}", params={"user_id": "u1"})
    assert await store.get_message("reply-1") is None


async def test_delete_publishes_conversation_deleted_first(env):
    client, _store = env
    cid = (await client.post("/internal/conversations", params={"user_id": "u1"}, json={})).json()["id"]
    url = f"/internal/conversations/{cid}"
    assert (await client.delete(url, params={"user_id": "u2"})).status_code == 404
    assert client.published == []

    client.kafka["down"] = True
    failed = await client.delete(url, params={"user_id": "u1"})
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "events_unavailable"
    assert (await client.get(url, params={"user_id": "u1"})).status_code == 200

    client.kafka["down"] = False
    assert (await client.delete(url, params={"user_id": "u1"})).status_code == 204
    [event] = client.published
    assert (event.type, event.conversation_id, event.user_id) == ("ConversationDeleted", cid, "u1")
    assert (await client.get(url, params={"user_id": "u1"})).status_code == 404


async def test_models_lists_the_default_model_first_then_the_extra_ones_with_their_limits(env):
    client, _ = env

    class Provider:
        model = "SmolLM2-test"

    # Nothing listens on port 9: the endpoint of "big-one" is down.
    down = ExtraModel(name="big-one", base_url="http://127.0.0.1:9/v1", context_tokens=8192, max_tokens=512)
    settings = client.ctx.settings.model_copy(update={"llm_models": [down]})
    client.ctx.models = ModelRegistry(
        default_model(settings, Provider()), [ServedModel("big-one", Provider(), 8192, 512)]
    )
    client.ctx.health = ModelHealth(settings, client.ctx.models)
    body = (await client.get("/internal/models")).json()
    assert body == {
        "models": [
            {
                "model": "SmolLM2-test",
                "context_tokens": 2048,
                "default_max_tokens": 256,
                "max_tokens_limit": 1024,
                "default": True,
                "available": True,
            },
            {
                "model": "big-one",
                "context_tokens": 8192,
                "default_max_tokens": 512,
                "max_tokens_limit": 4096,
                "default": False,
                "available": False,
            },
        ]
    }
    assert (await client.get("/internal/models", headers=NO_TOKEN)).status_code == 401


async def test_prompt_size_counts_with_the_models_tokenizer_and_refuses_what_does_not_fit(env):
    client, _ = env

    class Provider:
        model = "SmolLM2-test"

        def count_tokens(self, text: str) -> int:
            return len(text.split())

    client.ctx.models = ModelRegistry(default_model(client.ctx.settings, Provider()))
    url = "/internal/models/prompt-size"
    short = {"model": "SmolLM2-test", "messages": [{"role": "user", "content": "one two three"}]}
    fits = await client.post(url, json=short)
    assert PromptSize.model_validate(fits.json()) == PromptSize(
        prompt_tokens=3 + 4, context_tokens=2048, max_tokens=256
    )
    long = {**short, "messages": [{"role": "user", "content": "word " * 1900}], "max_tokens": 200}
    refused = await client.post(url, json=long)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 2048 tokens" in refused.json()["error"]["message"]
    assert "1904 in the messages" in refused.json()["error"]["message"]
    unknown = await client.post(url, json={**short, "model": "gpt-4"})
    assert unknown.status_code == 404
    assert (await client.post(url, json=short, headers=NO_TOKEN)).status_code == 401


async def test_every_response_validates_against_the_shared_wire_model(env):
    """The backend reads these answers as `alice_common.wire` models: a field renamed, retyped
    or missing here fails this test, not a user's request."""
    client, store = env
    user = "wire-user"
    created = await client.post("/internal/conversations", params={"user_id": user}, json={})
    conversation = Conversation.model_validate(created.json())
    cid, t0 = conversation.id, datetime(2026, 1, 1, tzinfo=UTC)
    await store.insert_message(
        {
            "_id": "wire-m1", "conversation_id": cid, "user_id": user, "role": "user", "content": "hi",
            "status": "completed", "created_at": t0, "reply_id": "wire-r1",
        }
    )  # fmt: skip
    await store.insert_message(
        {
            "_id": "wire-r1", "conversation_id": cid, "user_id": user, "role": "assistant",
            "content": "hello", "status": "completed", "created_at": t0 + timedelta(seconds=1),
            "reply_id": "wire-r1", "reply_to": "wire-m1", "model": "m",
            "sources": [{"document_id": "d1", "filename": "a.md", "chunk": 0, "snippet": "s", "score": 0.5}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "latency_ms": 9.5, "ttft_ms": 2.0},
        }
    )  # fmt: skip

    def get(path: str):
        return client.get(path, params={"user_id": user})

    ConversationPage.model_validate((await get("/internal/conversations")).json())
    Conversation.model_validate((await get(f"/internal/conversations/{cid}")).json())
    renamed = await client.patch(
        f"/internal/conversations/{cid}", params={"user_id": user}, json={"title": "T"}
    )
    Conversation.model_validate(renamed.json())
    messages = MessagePage.model_validate((await get(f"/internal/conversations/{cid}/messages")).json())
    question, answer = messages.items
    assert question.usage is None and question.sources == [] and question.reply_id == "wire-r1"
    assert answer.usage.completion_tokens == 1 and answer.sources[0].filename == "a.md"
    assert (await get(f"/internal/conversations/{cid}/messages")).json()["items"][0]["created_at"] == (
        "2026-01-01T00:00:00.000Z"
    )
    ReplyRef.model_validate((await get("/internal/replies/wire-r1")).json())
    ServedModels.model_validate((await client.get("/internal/models")).json())


# -- pin and archive -----------------------------------------------------------------------------


async def new_conversations(client, store, user: str, n: int) -> list[str]:
    """`n` conversations of `user`, each updated after the one before."""
    ids = []
    for i in range(n):
        r = await client.post("/internal/conversations", params={"user_id": user}, json={})
        ids.append(r.json()["id"])
        await store.update_conversation(user, ids[-1], {"title": f"c{i}"})
    return ids


async def patch(client, user: str, cid: str, body: dict) -> httpx.Response:
    return await client.patch(f"/internal/conversations/{cid}", params={"user_id": user}, json=body)


async def listed(client, user: str, **params) -> list[str]:
    """Every page of the user's list, followed by `next_before`."""
    ids: list[str] = []
    before = None
    while True:
        query = {"user_id": user, **params} | ({"before": before} if before else {})
        page = (await client.get("/internal/conversations", params=query)).json()
        ids += [c["id"] for c in page["items"]]
        before = page["next_before"]
        if before is None:
            return ids


async def test_patch_pins_and_archives_without_reordering_by_recency_and_only_for_the_owner(env):
    client, store = env
    [cid] = await new_conversations(client, store, "ann", 1)
    before = (await client.get(f"/internal/conversations/{cid}", params={"user_id": "ann"})).json()
    assert (before["pinned"], before["archived"]) == (False, False)

    pinned = await patch(client, "ann", cid, {"pinned": True})
    assert pinned.status_code == 200
    assert (pinned.json()["pinned"], pinned.json()["title"]) == (True, "c0")
    assert pinned.json()["updated_at"] == before["updated_at"]  # pinning is not activity
    archived = await patch(client, "ann", cid, {"archived": True, "pinned": False})
    assert (archived.json()["pinned"], archived.json()["archived"]) == (False, True)

    assert (await patch(client, "ann", cid, {})).status_code == 422
    assert (await patch(client, "ann", cid, {"title": "   "})).status_code == 422
    stolen = await patch(client, "bob", cid, {"pinned": True, "archived": False})
    assert stolen.status_code == 404
    after = (await client.get(f"/internal/conversations/{cid}", params={"user_id": "ann"})).json()
    assert (after["pinned"], after["archived"]) == (False, True)


async def test_list_shows_pinned_first_hides_archived_and_pages_across_the_groups(env):
    client, store = env
    c = await new_conversations(client, store, "pam", 6)  # c[5] is the most recent
    for cid in (c[1], c[3]):
        await patch(client, "pam", cid, {"pinned": True})
    await patch(client, "pam", c[2], {"archived": True})
    await patch(client, "pam", c[4], {"archived": True, "pinned": True})

    expected = [c[3], c[1], c[5], c[0]]
    for limit in (1, 2, 3, 50):
        assert await listed(client, "pam", limit=limit) == expected, limit
    assert await listed(client, "pam", limit=1, archived="true") == [c[4], c[2]]
    assert await listed(client, "bob") == [] and await listed(client, "bob", archived="true") == []

    await patch(client, "pam", c[3], {"pinned": False})
    assert await listed(client, "pam", limit=2) == [c[1], c[5], c[3], c[0]]


async def test_pages_neither_skip_nor_repeat_conversations_updated_at_the_same_time(env):
    client, store = env
    c = await new_conversations(client, store, "tia", 4)
    same = datetime(2026, 3, 1, tzinfo=UTC)
    for cid in c[:3]:
        await store.conversations.update_one({"_id": cid}, {"$set": {"updated_at": same}})
    assert await listed(client, "tia", limit=1) == [c[3], *sorted(c[:3], reverse=True)]


# -- feedback on replies -------------------------------------------------------------------------


def feedback_url(cid: str, reply_id: str) -> str:
    return f"/internal/conversations/{cid}/messages/{reply_id}/feedback"


async def put_feedback(client, user: str, cid: str, reply_id: str, body: dict) -> httpx.Response:
    return await client.put(feedback_url(cid, reply_id), params={"user_id": user}, json=body)


async def history_feedback(client, user: str, cid: str) -> dict:
    page = await client.get(f"/internal/conversations/{cid}/messages", params={"user_id": user})
    return {m["id"]: m["feedback"] for m in page.json()["items"]}


async def test_feedback_is_one_per_reply_replaced_by_a_second_and_shown_in_the_history(env):
    client, store = env
    [cid] = await new_conversations(client, store, "ann", 1)
    question, reply = await add_messages(store, "ann", cid, 2)

    given = await put_feedback(client, "ann", cid, reply, {"rating": "up", "comment": "  spot on  "})
    assert given.status_code == 200
    assert Feedback.model_validate(given.json()).comment == "spot on"
    assert (await history_feedback(client, "ann", cid))[reply] | {"updated_at": None} == {
        "rating": "up",
        "comment": "spot on",
        "updated_at": None,
    }
    again = await put_feedback(client, "ann", cid, reply, {"rating": "down", "comment": " "})
    assert (again.json()["rating"], again.json().get("comment")) == ("down", None)
    shown = await history_feedback(client, "ann", cid)
    assert (
        shown[question] is None and shown[reply]["rating"] == "down" and shown[reply].get("comment") is None
    )

    cleared = await client.delete(feedback_url(cid, reply), params={"user_id": "ann"})
    assert cleared.status_code == 204
    assert (await history_feedback(client, "ann", cid))[reply] is None


async def test_feedback_is_refused_on_anything_but_the_owners_reply(env):
    client, store = env
    [cid] = await new_conversations(client, store, "ann", 1)
    [bobs] = await new_conversations(client, store, "bob", 1)
    question, reply = await add_messages(store, "ann", cid, 2)
    await put_feedback(client, "ann", cid, reply, {"rating": "up"})

    for user, conversation, message in (
        ("bob", cid, reply),  # someone else's conversation
        ("bob", bobs, reply),  # someone else's reply, through one's own conversation
        ("ann", cid, question),  # not a reply
        ("ann", cid, "no-such-reply"),
        ("ann", bobs, reply),  # a reply of another conversation
    ):
        refused = await put_feedback(client, user, conversation, message, {"rating": "down"})
        assert refused.status_code == 404, (user, conversation, message)
        deleted = await client.delete(feedback_url(conversation, message), params={"user_id": user})
        assert deleted.status_code == 404
    assert (await history_feedback(client, "ann", cid))[reply]["rating"] == "up"

    for body in ({"rating": "meh"}, {"rating": "up", "comment": "x" * 2001}, {"comment": "no rating"}):
        assert (await put_feedback(client, "ann", cid, reply, body)).status_code == 422, body
    assert (
        await put_feedback(client, "ann", cid, reply, {"rating": "up", "comment": "x" * 2000})
    ).status_code == 200


async def test_feedback_stats_give_the_share_per_model_and_the_newest_comments(env):
    client, store = env
    [cid] = await new_conversations(client, store, "ann", 1)
    [bobs] = await new_conversations(client, store, "bob", 1)
    ratings = [
        ("ann", cid, "small", "up", None),
        ("ann", cid, "small", "up", None),
        ("bob", bobs, "small", "down", "too long"),
        ("bob", bobs, "big", "down", "wrong answer"),
    ]
    for i, (user, conversation, model, rating, comment) in enumerate(ratings):
        reply = f"stats-r{i}"
        await store.insert_message(
            {
                "_id": reply, "conversation_id": conversation, "user_id": user, "role": "assistant",
                "content": "a", "status": "completed", "created_at": datetime.now(UTC), "model": model,
            }
        )  # fmt: skip
        body = {"rating": rating} | ({"comment": comment} if comment else {})
        assert (await put_feedback(client, user, conversation, reply, body)).status_code == 200
    await store.insert_message(
        {"_id": "unrated", "conversation_id": cid, "user_id": "ann", "role": "assistant", "content": "b",
         "status": "completed", "created_at": datetime.now(UTC), "model": "big"}
    )  # fmt: skip

    stats = FeedbackStats.model_validate((await client.get("/internal/feedback/stats")).json())
    assert [(m.model, m.up, m.down, round(m.up_share, 3)) for m in stats.models] == [
        ("small", 2, 1, 0.667),
        ("big", 0, 1, 0.0),
    ]
    assert [(c.model, c.rating, c.comment) for c in stats.latest_comments] == [
        ("big", "down", "wrong answer"),
        ("small", "down", "too long"),
    ]
    assert (await client.get("/internal/feedback/stats", headers=NO_TOKEN)).status_code == 401
