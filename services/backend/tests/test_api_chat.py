"""Sending messages through the HTTP API: validation, ownership, limits, what lands in Redis and Kafka."""

import asyncio
import json

from aiokafka.errors import KafkaConnectionError
from alice_common.events import ChatRequested, new_id, parse_event
from alice_common.reply_stream import STATUS, active_key, cancel_key, reply_key, reply_meta_key
from alice_common.wire import ReplyRef
from pymongo.errors import ServerSelectionTimeoutError


async def _conversation(backend, auth) -> str:
    response = await backend.client.post(
        "/api/conversations", headers=backend.bearer(auth), json={"title": "t"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_send_accepts_queues_and_publishes(backend, redis):
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    response = await backend.client.post(
        f"/api/conversations/{conv}/messages", headers=backend.bearer(auth), json={"content": "  hello  "}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    reply_id = body["reply_id"]
    assert body["message"]["content"] == "hello" and body["message"]["role"] == "user"
    assert body["stream_url"] == f"/api/replies/{reply_id}/stream"
    entries = await redis.xrange(reply_key(reply_id))
    assert [(e[1]["event"], json.loads(e[1]["data"])) for e in entries] == [(STATUS, {"state": "queued"})]
    meta = await redis.hgetall(reply_meta_key(reply_id))
    assert meta["user_id"] == auth["user"]["id"] and meta["conversation_id"] == conv
    assert await redis.zscore(active_key(auth["user"]["id"]), reply_id) is not None

    records = await backend.published_chat_requests()
    assert len(records) == 1 and records[0].key == conv.encode()
    event = parse_event(records[0].value)
    assert isinstance(event, ChatRequested)
    assert (event.reply_id, event.message_id, event.content) == (reply_id, body["message"]["id"], "hello")
    assert event.user_id == auth["user"]["id"] and event.use_memory is True


async def test_send_validation(backend):
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    empty = await backend.client.post(url, headers=backend.bearer(auth), json={"content": "   "})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_message"
    long = await backend.client.post(url, headers=backend.bearer(auth), json={"content": "x" * 101})
    assert long.status_code == 413 and long.json()["error"]["code"] == "message_too_long"
    wrong_type = await backend.client.post(url, headers=backend.bearer(auth), json={"content": 5})
    assert wrong_type.status_code == 422


async def test_someone_elses_conversation_is_not_found(backend):
    owner, other = await backend.register(), await backend.register()
    conv = await _conversation(backend, owner)
    # Someone else's conversation answers what the orchestrator answers for a missing one; an id
    # that cannot exist is refused by the backend itself.
    for response, code in (
        (
            await backend.client.get(f"/api/conversations/{conv}", headers=backend.bearer(other)),
            "conversation_not_found",
        ),
        (
            await backend.client.post(
                f"/api/conversations/{conv}/messages", headers=backend.bearer(other), json={"content": "hi"}
            ),
            "conversation_not_found",
        ),
        (
            await backend.client.get("/api/conversations/not-an-id", headers=backend.bearer(other)),
            "not_found",
        ),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == code
    listed = await backend.client.get("/api/conversations", headers=backend.bearer(other))
    assert listed.json()["items"] == []


async def test_concurrent_generation_cap_answers_429_with_retry_after(backend):
    backend.ctx.settings.max_concurrent_generations = 2
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    statuses = [
        (await backend.client.post(url, headers=backend.bearer(auth), json={"content": "hi"}))
        for _ in range(3)
    ]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert statuses[-1].headers["Retry-After"] == "1"


async def test_stream_stop_and_regenerate_are_owner_only(backend, redis):
    owner, other = await backend.register(), await backend.register()
    conv = await _conversation(backend, owner)
    sent = await backend.client.post(
        f"/api/conversations/{conv}/messages", headers=backend.bearer(owner), json={"content": "hi"}
    )
    reply_id = sent.json()["reply_id"]
    for path in ("stop", "regenerate"):
        response = await backend.client.post(f"/api/replies/{reply_id}/{path}", headers=backend.bearer(other))
        assert response.status_code == 404
    assert (
        await backend.client.get(f"/api/replies/{reply_id}/stream", headers=backend.bearer(other))
    ).status_code == 404
    assert await redis.get(cancel_key(reply_id)) is None

    stop = await backend.client.post(f"/api/replies/{reply_id}/stop", headers=backend.bearer(owner))
    assert stop.status_code == 202 and await redis.get(cancel_key(reply_id)) == "1"
    regen = await backend.client.post(f"/api/replies/{reply_id}/regenerate", headers=backend.bearer(owner))
    assert regen.status_code == 202
    new_meta = await redis.hgetall(reply_meta_key(regen.json()["reply_id"]))
    assert new_meta["message_id"] == sent.json()["message"]["id"] and new_meta["content"] == "hi"


async def test_memory_setting_travels_with_the_request(backend):
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    assert (
        await backend.client.post(url, headers=backend.bearer(auth), json={"content": "one"})
    ).status_code == 202
    off = await backend.client.patch(
        "/api/me", headers=backend.bearer(auth), json={"settings": {"memory_enabled": False}}
    )
    assert off.status_code == 200
    assert (
        await backend.client.post(url, headers=backend.bearer(auth), json={"content": "two"})
    ).status_code == 202
    events = [parse_event(record.value) for record in await backend.published_chat_requests(at_least=2)]
    assert [(e.content, e.use_memory) for e in events] == [("one", True), ("two", False)]


async def test_a_store_failure_after_admission_gives_the_slot_back(backend, monkeypatch):
    backend.ctx.settings.max_concurrent_generations = 2
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"

    async def mongo_down(ctx, user_id):
        raise ServerSelectionTimeoutError("MongoDB election in progress")

    with monkeypatch.context() as patched:
        patched.setattr("alice_backend.replies.requesting.memory_enabled", mongo_down)
        failed = [
            await backend.client.post(url, headers=backend.bearer(auth), json={"content": "hi"})
            for _ in range(3)
        ]
    assert [r.status_code for r in failed] == [503, 503, 503]  # never 429: no slot stayed taken
    assert failed[0].json()["error"]["code"] == "upstream_unavailable" and failed[0].headers["Retry-After"]
    user_id = (await backend.client.get("/api/me", headers=backend.bearer(auth))).json()["id"]
    assert await backend.ctx.redis.zcard(active_key(user_id)) == 0
    sent = await backend.client.post(url, headers=backend.bearer(auth), json={"content": "hi"})
    assert sent.status_code == 202, sent.text


async def test_an_unconfirmed_publish_is_an_unknown_outcome_that_the_keyed_retry_settles(
    backend, redis, monkeypatch
):
    """The producer queued the record but Kafka did not confirm it in time (a stalled broker):
    504 `outcome_unknown`, never "nothing was accepted". The reply stays `queued` with its slot
    taken, since the record may still arrive. The retry with the same key publishes the SAME ids
    again and answers the 202 they were accepted under."""
    from alice_backend.replies import requesting
    from alice_common.kafka import enqueue

    backend.ctx.settings.publish_timeout_s = 0.3
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    key = {"Idempotency-Key": "stall-1"}
    stalled: list[asyncio.Future] = []

    async def queued_but_never_confirmed(*args, **kwargs):
        await enqueue(*args, **kwargs)  # the record really is on its way
        stalled.append(asyncio.get_running_loop().create_future())
        return stalled[-1]

    with monkeypatch.context() as patched:
        patched.setattr(requesting, "enqueue", queued_but_never_confirmed)
        first = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "hi"})
    assert first.status_code == 504, first.text
    assert first.json()["error"]["code"] == "outcome_unknown" and int(first.headers["Retry-After"]) > 0
    records = await backend.published_chat_requests()
    reply_id = parse_event(records[0].value).reply_id
    entries = await redis.xrange(reply_key(reply_id))
    assert [e[1]["event"] for e in entries] == [STATUS]  # not ended as "not accepted"
    assert await redis.zscore(active_key(auth["user"]["id"]), reply_id) is not None

    retried = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "hi"})
    assert retried.status_code == 202, retried.text
    assert retried.json()["reply_id"] == reply_id
    events = [parse_event(r.value) for r in await backend.published_chat_requests(at_least=2)]
    assert {(e.reply_id, e.message_id) for e in events} == {(reply_id, retried.json()["message"]["id"])}
    assert [e[1]["event"] for e in await redis.xrange(reply_key(reply_id))] == [STATUS]  # admitted once
    again = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "hi"})
    assert again.json() == retried.json()
    other = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "bye"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    stalled[0].cancel()


async def test_a_publish_that_never_left_the_backend_is_not_accepted_and_the_key_starts_afresh(
    backend, redis, monkeypatch
):
    from alice_backend.replies import requesting

    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    key = {"Idempotency-Key": "never-left"}

    async def broker_unknown(*args, **kwargs):
        raise KafkaConnectionError("no broker")

    with monkeypatch.context() as patched:
        patched.setattr(requesting, "enqueue", broker_unknown)
        failed = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "hi"})
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "upstream_unavailable"
    assert await redis.zcard(active_key(auth["user"]["id"])) == 0
    sent = await backend.client.post(url, headers=backend.bearer(auth) | key, json={"content": "hi"})
    assert sent.status_code == 202, sent.text
    records = await backend.published_chat_requests()
    assert [parse_event(r.value).reply_id for r in records] == [sent.json()["reply_id"]]


async def _stored_reply(backend, auth, conv: str, finish_reason: str | None) -> tuple[str, str]:
    """A sent message's reply, stored as the orchestrator would have it; (reply id, message id)."""
    sent = await backend.client.post(
        f"/api/conversations/{conv}/messages", headers=backend.bearer(auth), json={"content": "tell me"}
    )
    assert sent.status_code == 202, sent.text
    reply_id, message_id = sent.json()["reply_id"], sent.json()["message"]["id"]
    backend.orchestrator.stored_replies[reply_id] = (
        auth["user"]["id"],
        ReplyRef(
            reply_id=reply_id,
            conversation_id=conv,
            message_id=message_id,
            status="completed",
            finish_reason=finish_reason,
        ),
    )
    return reply_id, message_id


async def test_continue_publishes_a_continuation_of_the_owners_cut_reply(backend, redis):
    owner, other = await backend.register(), await backend.register()
    conv = await _conversation(backend, owner)
    reply_id, message_id = await _stored_reply(backend, owner, conv, "length")
    url = f"/api/replies/{reply_id}/continue"

    assert (await backend.client.post(url, headers=backend.bearer(other))).status_code == 404
    response = await backend.client.post(url, headers=backend.bearer(owner))
    assert response.status_code == 202, response.text
    body = response.json()
    continuation = body["reply_id"]
    assert continuation != reply_id and body["continue_of"] == reply_id
    assert body["stream_url"] == f"/api/replies/{continuation}/stream"
    entries = await redis.xrange(reply_key(continuation))
    assert [(e[1]["event"], json.loads(e[1]["data"])) for e in entries] == [(STATUS, {"state": "queued"})]
    events = [parse_event(r.value) for r in await backend.published_chat_requests(at_least=2)]
    assert [(e.reply_id, e.continue_of) for e in events] == [(reply_id, None), (continuation, reply_id)]
    assert (events[1].message_id, events[1].content) == (message_id, "tell me")


async def test_only_a_reply_cut_at_its_length_limit_can_be_continued(backend):
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    for finish_reason in ("stop", None):
        reply_id, _ = await _stored_reply(backend, auth, conv, finish_reason)
        response = await backend.client.post(
            f"/api/replies/{reply_id}/continue", headers=backend.bearer(auth)
        )
        assert response.status_code == 409 and response.json()["error"]["code"] == "not_continuable"
    missing = await backend.client.post(f"/api/replies/{new_id()}/continue", headers=backend.bearer(auth))
    assert missing.status_code == 404


async def test_continue_is_rate_limited_like_a_send(backend):
    backend.ctx.settings.max_concurrent_generations = 1
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    reply_id, _ = await _stored_reply(backend, auth, conv, "length")  # its generation holds the slot
    response = await backend.client.post(f"/api/replies/{reply_id}/continue", headers=backend.bearer(auth))
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert response.headers["Retry-After"]


async def test_a_message_after_a_named_one_or_as_a_new_version_travels_with_the_request(backend):
    auth = await backend.register()
    conv = await _conversation(backend, auth)
    url = f"/api/conversations/{conv}/messages"
    parent, edited = new_id(), new_id()
    for place in ({"parent_id": parent}, {"edit_of": edited}):
        sent = await backend.client.post(url, headers=backend.bearer(auth), json={"content": "hi", **place})
        assert sent.status_code == 202, sent.text
    events = [parse_event(r.value) for r in await backend.published_chat_requests()]
    assert [(e.parent_id, e.edit_of) for e in events] == [(parent, None), (None, edited)]

    both = await backend.client.post(
        url, headers=backend.bearer(auth), json={"content": "hi", "parent_id": parent, "edit_of": edited}
    )
    assert both.status_code == 422 and "not both" in both.json()["error"]["message"]
    bad = await backend.client.post(
        url, headers=backend.bearer(auth), json={"content": "hi", "edit_of": "../x"}
    )
    assert bad.status_code == 422


async def test_a_branch_is_its_owners_alone(backend):
    owner, other = await backend.register(), await backend.register()
    conv = await _conversation(backend, owner)
    url = f"/api/conversations/{conv}/branch"
    empty = await backend.client.get(url, headers=backend.bearer(owner))
    assert empty.status_code == 200 and empty.json() == {"items": [], "next_before": None, "leaf_id": None}
    for response in (
        await backend.client.get(url, headers=backend.bearer(other)),
        await backend.client.put(url, headers=backend.bearer(other), json={"message_id": new_id()}),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "conversation_not_found"
    unknown = await backend.client.put(url, headers=backend.bearer(owner), json={"message_id": new_id()})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "message_not_found"
    extra = await backend.client.put(
        url, headers=backend.bearer(owner), json={"message_id": new_id(), "x": 1}
    )
    assert extra.status_code == 422


async def test_reading_and_choosing_branches_is_rate_limited(backend):
    user = await backend.register()
    conv = await _conversation(backend, user)
    backend.ctx.settings = backend.ctx.settings.model_copy(
        update={"branch_rate_capacity": 2, "branch_rate_per_s": 0.001}
    )
    url = f"/api/conversations/{conv}/branch"
    assert (await backend.client.get(url, headers=backend.bearer(user))).status_code == 200
    assert (await backend.client.get(url, headers=backend.bearer(user))).status_code == 200
    limited = await backend.client.put(url, headers=backend.bearer(user), json={"message_id": new_id()})
    assert (limited.status_code, limited.json()["error"]["code"]) == (429, "rate_limited")
    assert "Retry-After" in limited.headers
