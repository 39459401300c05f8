"""The chat handler against real Redis and MongoDB (the model is the pipeline-only fake).

Covers what redelivery after a crash relies on: idempotent stores, `reset` before regenerating a
half-streamed reply, no second reply when one is stored, and the stream ending with `done`.
"""

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis
from alice_common.events import ChatCompleted, ChatRequested, CompletionRequest, new_id
from alice_common.reply_stream import (
    DONE,
    FAILED,
    RESET,
    STATUS,
    TOKEN,
    ReplyStream,
    active_key,
    cancel_key,
    reply_key,
)
from alice_common.wire import Message
from alice_orchestrator.archive import archived_conversation
from alice_orchestrator.chat import ChatHandler, InvalidRequest
from alice_orchestrator.providers.fake import FakeProvider
from alice_orchestrator.providers.registry import ModelRegistry, ServedModel, default_model
from alice_orchestrator.recent_turns import ctx_key
from alice_orchestrator.settings import Settings
from alice_orchestrator.store import ChatStore
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


@pytest.fixture
async def deps(infra, unique_name):
    redis = aioredis.from_url(infra.redis_url, decode_responses=True)
    mongo = AsyncMongoClient(infra.mongodb_url, tz_aware=True)
    db_name = unique_name("orch")
    store = ChatStore(mongo[db_name])
    await store.ensure_indexes()
    published: list[ChatCompleted] = []

    async def publish(event: ChatCompleted) -> None:
        published.append(event)

    settings = Settings(llm_provider="fake", llm_max_tokens=12, llm_fake_token_interval_ms=2)
    # A second model beside the default, as LLM_MODELS would add it (its own name and limits).
    second = ServedModel("second", FakeProvider(token_interval_ms=2), 1024, 5)
    models = ModelRegistry(default_model(settings, FakeProvider(token_interval_ms=2)), [second])
    handler = ChatHandler(settings, store, redis, models, publish)
    original_handle = handler.handle

    async def handle_in_existing_conversation(req: ChatRequested) -> None:
        # The backend creates the conversation before it publishes a request.
        if await store.conversation_owner(req.conversation_id) is None:
            await store.create_conversation(req.user_id, req.conversation_id, None)
        await original_handle(req)

    handler.handle = handle_in_existing_conversation
    yield handler, store, redis, published
    await mongo.drop_database(db_name)
    await mongo.close()
    await redis.aclose()


def request(unique_name, **kw) -> ChatRequested:
    fields = dict(
        conversation_id=unique_name("c"),
        user_id=unique_name("u"),
        message_id=unique_name("m"),
        reply_id=unique_name("r"),
        content="Hello there, how are you?",
    )
    fields.update(kw)
    return ChatRequested(**fields)


async def events(redis, reply_id):
    return [(f["event"], json.loads(f["data"])) for _, f in await redis.xrange(reply_key(reply_id))]


async def test_a_request_streams_tokens_stores_both_messages_and_announces_completion(deps, unique_name):
    handler, store, redis, published = deps
    req = request(unique_name)
    await redis.zadd(active_key(req.user_id), {req.reply_id: 1})
    await handler.handle(req)

    stream = await events(redis, req.reply_id)
    kinds = [k for k, _ in stream]
    assert kinds[0] == STATUS and stream[0][1] == {"state": "generating"}
    assert kinds[-1] == DONE and TOKEN in kinds
    deltas = "".join(d["delta"] for k, d in stream if k == TOKEN)
    done = stream[-1][1]["message"]
    assert done["content"] == deltas and done["status"] == "completed" and done["id"] == req.reply_id
    assert done["usage"]["completion_tokens"] == 12 and done["usage"]["latency_ms"] > 0
    # The `done` message is the shared wire model, exactly as the history will list it.
    assert Message.model_validate(done).role == "assistant" and done["reply_to"] == req.message_id
    assert await redis.ttl(reply_key(req.reply_id)) > 0
    assert await redis.zscore(active_key(req.user_id), req.reply_id) is None

    messages = await store.list_messages(req.user_id, req.conversation_id, 10)
    assert [(m["role"], m["_id"]) for m in messages] == [
        ("user", req.message_id),
        ("assistant", req.reply_id),
    ]
    assert messages[1]["reply_to"] == req.message_id and messages[1]["content"] == deltas
    assert [e.reply_id for e in published] == [req.reply_id]
    conversation = await store.get_conversation(req.user_id, req.conversation_id)
    assert conversation["title"]  # generated after the first exchange


async def test_redelivery_of_a_finished_request_emits_nothing_and_stores_nothing_new(deps, unique_name):
    handler, store, redis, published = deps
    req = request(unique_name)
    await handler.handle(req)
    before = await events(redis, req.reply_id)
    await handler.handle(req)
    assert await events(redis, req.reply_id) == before
    assert len(await store.list_messages(req.user_id, req.conversation_id, 10)) == 2
    # Announced again: the first announcement may be the one that failed (consumers are idempotent).
    assert [e.reply_id for e in published] == [req.reply_id, req.reply_id]


async def test_a_completion_whose_publish_fails_after_done_is_announced_on_the_retry(deps, unique_name):
    handler, store, redis, published = deps
    announce = handler.publish
    failures = [RuntimeError("kafka hiccup")]

    async def flaky(event: ChatCompleted) -> None:
        if failures:
            raise failures.pop()
        await announce(event)

    handler.publish = flaky
    req = request(unique_name)
    with pytest.raises(RuntimeError, match="kafka hiccup"):
        await handler.handle(req)
    finished = await events(redis, req.reply_id)
    assert finished[-1][0] == DONE and published == []  # the user has the reply, nobody else
    await handler.handle(req)  # the consume loop's retry
    assert [(e.reply_id, e.assistant_content) for e in published] == [
        (req.reply_id, finished[-1][1]["message"]["content"])
    ]
    assert await events(redis, req.reply_id) == finished  # no second `done`, nothing regenerated
    assert len(await store.list_messages(req.user_id, req.conversation_id, 10)) == 2


async def test_half_streamed_reply_is_reset_then_generated_again(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    stream = ReplyStream(redis, req.reply_id)
    await stream.add(STATUS, {"state": "queued"})
    await stream.add(STATUS, {"state": "generating"})
    await stream.add(TOKEN, {"delta": "half a rep"})  # a crashed attempt

    await handler.handle(req)
    kinds = [k for k, _ in await events(redis, req.reply_id)]
    assert kinds[:4] == [STATUS, STATUS, TOKEN, RESET]
    after_reset = (await events(redis, req.reply_id))[4:]
    assert after_reset[0] == (STATUS, {"state": "generating"})
    assert after_reset[-1][0] == DONE
    assert after_reset[-1][1]["message"]["content"] == "".join(
        d["delta"] for k, d in after_reset if k == TOKEN
    )
    assert len(await store.list_messages(req.user_id, req.conversation_id, 10)) == 2


async def test_stored_reply_without_done_gets_its_done_on_redelivery(deps, unique_name):
    handler, store, redis, _published = deps
    req = request(unique_name)
    await handler.handle(req)
    # Simulate a crash between storing the reply and writing `done`: drop the terminal entry.
    last_id, _ = (await redis.xrevrange(reply_key(req.reply_id), count=1))[0]
    await redis.xdel(reply_key(req.reply_id), last_id)
    await handler.handle(req)
    stream = await events(redis, req.reply_id)
    assert stream[-1][0] == DONE and [k for k, _ in stream].count(DONE) == 1
    assert len(await store.list_messages(req.user_id, req.conversation_id, 10)) == 2


async def test_cancel_before_start_stores_an_empty_stopped_reply(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await redis.set(cancel_key(req.reply_id), "1", ex=60)
    await handler.handle(req)
    done = (await events(redis, req.reply_id))[-1]
    assert done[0] == DONE and done[1]["message"]["status"] == "stopped"
    assert (await store.get_message(req.reply_id))["status"] == "stopped"


async def test_second_message_sees_the_first_exchange_in_its_context(deps, unique_name):
    handler, _store, _redis, _ = deps
    first = request(unique_name, content="My name is Ada.")
    await handler.handle(first)
    second = request(
        unique_name, conversation_id=first.conversation_id, user_id=first.user_id, content="What is my name?"
    )
    seen = _spy_prompts(handler)
    await handler.handle(second)
    contents = [m["content"] for m in seen[0]]
    assert contents[1] == "My name is Ada." and contents[-1] == "What is my name?"
    assert seen[0][2]["role"] == "assistant"


async def test_a_deleted_conversation_ends_the_stream_with_failed(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await redis.zadd(active_key(req.user_id), {req.reply_id: 1})
    await ChatHandler.handle(handler, req)  # no conversation: deleted after the backend accepted
    assert (await events(redis, req.reply_id))[-1] == (
        FAILED,
        {"code": "conversation_not_found", "message": "The conversation no longer exists."},
    )
    assert await store.get_message(req.message_id) is None
    assert await redis.zscore(active_key(req.user_id), req.reply_id) is None


async def test_deleting_the_conversation_mid_reply_leaves_nothing_behind(deps, unique_name):
    """The user deletes the conversation while its reply is generated (as the delete endpoint
    does: conversation, then its messages, then the context cache): nothing of it is stored
    afterwards, nothing is announced, and the stream ends (with its TTL) instead of `done`."""
    handler, store, redis, published = deps
    handler.models = ModelRegistry(default_model(handler.settings, FakeProvider(token_interval_ms=60)))
    req = request(unique_name)
    await redis.zadd(active_key(req.user_id), {req.reply_id: 1})
    replying = asyncio.create_task(handler.handle(req))
    deadline = time.monotonic() + 20
    while TOKEN not in [k for k, _ in await events(redis, req.reply_id)]:
        assert time.monotonic() < deadline and not replying.done()
        await asyncio.sleep(0.02)
    assert await store.delete_conversation(req.user_id, req.conversation_id)
    await handler.recent_turns.forget(req.conversation_id)
    await replying

    assert await store.messages.count_documents({"conversation_id": req.conversation_id}) == 0
    assert await store.conversation_by_id(req.conversation_id) is None
    assert published == []
    last = (await events(redis, req.reply_id))[-1]
    assert last == (
        FAILED,
        {"code": "conversation_not_found", "message": "The conversation no longer exists."},
    )
    assert 0 < await redis.ttl(reply_key(req.reply_id)) <= handler.settings.reply_stream_ttl_s
    assert await redis.zscore(active_key(req.user_id), req.reply_id) is None
    assert not await redis.exists(ctx_key(req.conversation_id))


async def test_someone_elses_conversation_is_refused(deps, unique_name):
    handler, _, _, _ = deps
    req = request(unique_name)
    await handler.handle(req)
    intruder = request(unique_name, conversation_id=req.conversation_id)
    with pytest.raises(InvalidRequest):
        await handler.handle(intruder)


async def test_sources_reach_the_prompt_the_done_event_and_the_stored_reply(deps, unique_name):
    handler, store, redis, _ = deps
    source = {
        "document_id": "d1",
        "filename": "manual.pdf",
        "chunk": 3,
        "snippet": "Descale every 200 cups.",
        "score": 0.71,
        "prompt_text": "Descale the machine every 200 cups with citric acid.",
    }

    class OneSource:
        async def retrieve(self, request):
            return [source], ["The user said: I own a Zephyr-9"]

    handler.retriever = OneSource()
    seen: list[list[dict]] = []
    original = handler.models.default.provider.stream

    def spy(messages, **kw):
        seen.append(messages)
        return original(messages, **kw)

    handler.models.default.provider.stream = spy
    req = request(unique_name, content="How often do I descale?")
    await handler.handle(req)
    system = seen[0][0]["content"]
    assert "[1] (manual.pdf) Descale the machine every 200 cups with citric acid." in system
    assert "I own a Zephyr-9" in system
    public = {k: v for k, v in source.items() if k != "prompt_text"}
    done = (await events(redis, req.reply_id))[-1][1]["message"]
    assert done["sources"] == [public]
    assert (await store.get_message(req.reply_id))["sources"] == [public]


async def test_a_reply_is_never_older_than_its_message_even_with_clock_skew(deps, unique_name):
    from datetime import UTC, datetime, timedelta

    handler, store, _, _ = deps
    # The backend's clock runs a minute ahead of the orchestrator's.
    req = request(unique_name, occurred_at=datetime.now(UTC) + timedelta(minutes=1))
    await handler.handle(req)
    user_msg, reply = await store.list_messages(req.user_id, req.conversation_id, 10)
    assert (user_msg["role"], reply["role"]) == ("user", "assistant")
    assert reply["created_at"] > user_msg["created_at"]


def completion_request(unique_name, **params) -> ChatRequested:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me something."},
    ]
    reply_id = new_id()
    return ChatRequested(
        conversation_id=reply_id,
        user_id=unique_name("u"),
        message_id=unique_name("m"),
        reply_id=reply_id,
        content="Tell me something.",
        completion=CompletionRequest(messages=messages, **params),
    )


async def test_a_completion_uses_its_own_messages_and_limits_and_stores_nothing(deps, unique_name):
    handler, store, redis, published = deps
    seen: list[dict] = []
    original = handler.models.default.provider.stream

    def spy(messages, **kw):
        seen.append({"messages": messages, **kw})
        return original(messages, **kw)

    handler.models.default.provider.stream = spy
    req = completion_request(unique_name, max_tokens=5, temperature=0.0, stop=["message"])
    await redis.zadd(active_key(req.user_id), {req.reply_id: 1})
    await ChatHandler.handle(handler, req)

    assert seen[0]["messages"] == [m.model_dump(exclude_none=True) for m in req.completion.messages]
    assert seen[0]["max_tokens"] == 5 and seen[0]["temperature"] == 0.0 and seen[0]["stop"] == ["message"]
    # Seeded by the reply id, so a retry after a crash repeats the same text.
    assert seen[0]["seed"] == int(req.reply_id[:8], 16)
    stream = await events(redis, req.reply_id)
    done = stream[-1][1]["message"]
    deltas = "".join(d["delta"] for k, d in stream if k == TOKEN)
    # The fake's fixed words end before "message" (the stop string): 4 tokens, under max_tokens.
    assert done["content"] == deltas == "Alice is answering your"
    assert done["finish_reason"] == "stop" and done["usage"]["completion_tokens"] == 4
    assert done["usage"]["prompt_tokens"] > 0
    assert await store.get_message(req.reply_id) is None and await store.get_message(req.message_id) is None
    assert await store.conversation_owner(req.conversation_id) is None
    assert published == []
    assert await redis.zscore(active_key(req.user_id), req.reply_id) is None

    longer = completion_request(unique_name, max_tokens=3)
    await ChatHandler.handle(handler, longer)
    assert (await events(redis, longer.reply_id))[-1][1]["message"]["finish_reason"] == "length"


async def test_a_redelivered_completion_resets_a_half_stream_and_never_runs_twice(deps, unique_name):
    handler, _, redis, _ = deps
    req = completion_request(unique_name)
    stream = ReplyStream(redis, req.reply_id)
    await stream.add(TOKEN, {"delta": "half"})  # a crashed attempt
    await ChatHandler.handle(handler, req)
    kinds = [k for k, _ in await events(redis, req.reply_id)]
    assert kinds[:2] == [TOKEN, RESET] and kinds[-1] == DONE
    await ChatHandler.handle(handler, req)  # redelivered after the end: nothing more
    assert [k for k, _ in await events(redis, req.reply_id)] == kinds


async def test_a_request_naming_a_second_model_is_answered_and_announced_by_it(deps, unique_name):
    handler, store, redis, published = deps
    used: list[str] = []
    for served in handler.models:
        original = served.provider.stream

        def spy(messages, _name=served.name, _original=original, **kw):
            used.append(_name)
            return _original(messages, **kw)

        served.provider.stream = spy
    req = request(unique_name, model="second")
    await handler.handle(req)

    done = (await events(redis, req.reply_id))[-1][1]["message"]
    # The second model's own reply length (5), not the default's (LLM_MAX_TOKENS=12).
    assert done["model"] == "second" and done["usage"]["completion_tokens"] == 5
    assert (await store.get_message(req.reply_id))["model"] == "second"
    assert [e.model for e in published] == ["second"]
    # The reply came from the second model; the title, a chore, from the default one.
    assert used[0] == "second" and set(used[1:]) == {"fake"}


async def test_a_request_naming_an_unknown_model_fails_its_reply_and_stores_nothing(deps, unique_name):
    handler, store, redis, published = deps
    req = request(unique_name, model="gone-since-a-restart")
    await redis.zadd(active_key(req.user_id), {req.reply_id: 1})
    await handler.handle(req)  # returns: a stale event is not retried, and not poison
    assert (await events(redis, req.reply_id))[-1] == (
        FAILED,
        {"code": "model_not_found", "message": "The model 'gone-since-a-restart' is not served any more."},
    )
    assert await store.get_message(req.message_id) is None and published == []
    assert await redis.zscore(active_key(req.user_id), req.reply_id) is None


def continue_request(req: ChatRequested, unique_name) -> ChatRequested:
    return req.model_copy(update={"reply_id": unique_name("r"), "continue_of": req.reply_id})


async def test_a_reply_cut_at_its_length_limit_says_so(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await handler.handle(req)
    done = (await events(redis, req.reply_id))[-1][1]["message"]
    assert done["finish_reason"] == "length"  # the fake writes exactly `llm_max_tokens` words
    assert (await store.get_message(req.reply_id))["finish_reason"] == "length"


async def test_a_continuation_grows_the_reply_once_even_when_redelivered(deps, unique_name):
    handler, store, redis, published = deps
    req = request(unique_name)
    await handler.handle(req)
    cut = (await store.get_message(req.reply_id))["content"]
    more = continue_request(req, unique_name)
    await redis.zadd(active_key(req.user_id), {more.reply_id: 1})

    await handler.handle(more)
    stream = await events(redis, more.reply_id)
    added = "".join(d["delta"] for k, d in stream if k == TOKEN)
    done = stream[-1][1]["message"]
    assert stream[-1][0] == DONE and added
    assert done["id"] == req.reply_id and done["content"] == cut + added
    assert done["usage"]["completion_tokens"] == 24
    stored = await store.get_message(req.reply_id)
    assert stored["content"] == cut + added and [c["id"] for c in stored["continued_by"]] == [more.reply_id]
    assert await redis.zscore(active_key(req.user_id), more.reply_id) is None
    assert published[-1].assistant_message_id == req.reply_id
    assert published[-1].assistant_content == cut + added
    assert published[-1].usage.completion_tokens == 12  # the continuation's own: the rest was announced

    await handler.handle(more)  # redelivered after a crash: nothing is appended twice
    assert await events(redis, more.reply_id) == stream
    assert (await store.get_message(req.reply_id))["content"] == cut + added
    messages = await store.list_messages(req.user_id, req.conversation_id, 10)
    assert [(m["role"], m["_id"]) for m in messages] == [
        ("user", req.message_id),
        ("assistant", req.reply_id),
    ]


async def test_a_half_streamed_continuation_is_reset_and_appended_once(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await handler.handle(req)
    cut = (await store.get_message(req.reply_id))["content"]
    more = continue_request(req, unique_name)
    stream = ReplyStream(redis, more.reply_id)
    await stream.add(STATUS, {"state": "generating"})
    await stream.add(TOKEN, {"delta": " crashed half"})  # a crashed attempt

    await handler.handle(more)
    kinds = [k for k, _ in await events(redis, more.reply_id)]
    assert kinds[:3] == [STATUS, TOKEN, RESET] and kinds[-1] == DONE
    after_reset = (await events(redis, more.reply_id))[3:]
    added = "".join(d["delta"] for k, d in after_reset if k == TOKEN)
    stored = await store.get_message(req.reply_id)
    assert stored["content"] == cut + added and "crashed half" not in stored["content"]


async def test_two_continuations_at_once_do_not_both_append_to_the_same_text(deps, unique_name):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await handler.handle(req)
    cut = (await store.get_message(req.reply_id))["content"]
    first, second = continue_request(req, unique_name), continue_request(req, unique_name)
    await asyncio.gather(handler.handle(first), handler.handle(second))
    stored = await store.get_message(req.reply_id)
    assert len(stored["continued_by"]) == 1
    winner = stored["continued_by"][0]["id"]
    added = "".join(d["delta"] for k, d in await events(redis, winner) if k == TOKEN)
    assert stored["content"] == cut + added
    # The other one's stream ends with the reply as stored, not with its own lost text.
    loser = second.reply_id if winner == first.reply_id else first.reply_id
    assert (await events(redis, loser))[-1][1]["message"]["content"] == stored["content"]


async def test_a_continuation_stopped_before_it_wrote_anything_leaves_the_reply_continuable(
    deps, unique_name
):
    handler, store, redis, _ = deps
    req = request(unique_name)
    await handler.handle(req)
    before = await store.get_message(req.reply_id)
    more = continue_request(req, unique_name)
    await redis.set(cancel_key(more.reply_id), "1")
    await handler.handle(more)
    done = (await events(redis, more.reply_id))[-1][1]["message"]
    assert (done["content"], done["status"], done["finish_reason"]) == (
        before["content"],
        "completed",
        "length",
    )
    after = await store.get_message(req.reply_id)
    assert (after["content"], after["finish_reason"]) == (before["content"], "length")


async def test_a_conversations_model_prompt_and_parameters_are_used_for_its_replies(deps, unique_name):
    handler, store, redis, _ = deps
    seen: list[tuple[str, list[dict], dict]] = []
    for served in handler.models:
        original = served.provider.stream

        def spy(messages, _name=served.name, _original=original, **kw):
            seen.append((_name, messages, kw))
            return _original(messages, **kw)

        served.provider.stream = spy
    req = request(unique_name)
    settings = {"model": "second", "system_prompt": "Answer like a pirate.", "temperature": 1.4}
    settings["max_tokens"] = 3
    await store.create_conversation(req.user_id, req.conversation_id, None, settings)
    await handler.handle(req)

    name, messages, params = seen[0]
    assert name == "second" and messages[0] == {"role": "system", "content": "Answer like a pirate."}
    assert (params["temperature"], params["max_tokens"]) == (1.4, 3)
    done = (await events(redis, req.reply_id))[-1][1]["message"]
    assert done["model"] == "second" and done["usage"]["completion_tokens"] == 3


async def test_a_conversations_model_whose_endpoint_is_down_fails_its_reply_at_once(deps, unique_name):
    handler, store, redis, published = deps

    class Down:
        async def available(self, served):
            return False

    handler.health = Down()
    req = request(unique_name)
    await store.create_conversation(req.user_id, req.conversation_id, None, {"model": "second"})
    await handler.handle(req)
    assert (await events(redis, req.reply_id))[-1] == (
        FAILED,
        {
            "code": "model_unavailable",
            "message": "The model 'second' is unavailable right now. Pick another model or try again later.",
        },
    )
    assert await store.get_message(req.message_id) is None and published == []


async def test_a_reply_says_how_many_earlier_turns_did_not_fit_the_context(deps, unique_name):
    """The web app trims old turns to fit the model's context and says so (issue 24): the reply
    records how many were left out; nothing while everything fits."""
    handler, store, _redis, _published = deps
    conversation, user = unique_name("c"), unique_name("u")
    long_question = "tell me more about the harbour and its boats " * 120  # about 1,300 tokens
    left_out = []
    for n in range(3):
        req = request(unique_name, conversation_id=conversation, user_id=user, content=f"{n} {long_question}")
        await handler.handle(req)
        reply = Message.model_validate((await events(handler.redis, req.reply_id))[-1][1]["message"])
        stored = next(
            m for m in await store.list_messages(user, conversation, 10) if m["_id"] == req.reply_id
        )
        assert stored.get("left_out_turns") == reply.left_out_turns
        left_out.append(reply.left_out_turns)
    # The first question has no history; from the second on, the previous question does not fit
    # beside the new one in 2,048 tokens (each later one leaves out every earlier turn).
    assert left_out == [None, 2, 4]


async def _ask(handler, unique_name, first: ChatRequested, content: str, **kw) -> ChatRequested:
    req = request(
        unique_name, conversation_id=first.conversation_id, user_id=first.user_id, content=content, **kw
    )
    await handler.handle(req)
    return req


def _spy_prompts(handler) -> list[list[dict]]:
    seen: list[list[dict]] = []
    original = handler.models.default.provider.stream

    def spy(messages, **kw):
        seen.append(messages)
        return original(messages, **kw)

    handler.models.default.provider.stream = spy
    return seen


async def test_an_edited_message_is_a_new_version_and_the_model_sees_only_its_branch(deps, unique_name):
    handler, store, redis, _ = deps
    first = request(unique_name, content="My name is Ada.")
    await handler.handle(first)
    second = await _ask(handler, unique_name, first, "My favourite colour is red.")
    seen = _spy_prompts(handler)
    edited = await _ask(
        handler, unique_name, first, "My favourite colour is blue.", edit_of=second.message_id
    )
    after = await _ask(handler, unique_name, first, "What did I say?")

    stored = {m["_id"]: m for m in await store.list_messages(first.user_id, first.conversation_id, 20)}
    assert stored[edited.message_id]["parent_id"] == stored[second.message_id]["parent_id"] == first.reply_id
    assert stored[edited.reply_id]["parent_id"] == edited.message_id
    # Without a named parent a message follows the end of the branch shown: the edit's reply.
    assert stored[after.message_id]["parent_id"] == edited.reply_id
    prompt_of_edit = [m["content"] for m in seen[0]]
    assert "My name is Ada." in prompt_of_edit and "My favourite colour is red." not in prompt_of_edit
    prompt_after = [m["content"] for m in seen[1]]
    assert (
        "My favourite colour is blue." in prompt_after and "My favourite colour is red." not in prompt_after
    )
    # The conversation goes on from the original too, when the user sends after it.
    back = await _ask(handler, unique_name, first, "And now?", parent_id=second.reply_id)
    prompt_back = [m["content"] for m in seen[2]]
    assert "My favourite colour is red." in prompt_back and "My favourite colour is blue." not in prompt_back
    assert (await store.get_message(back.message_id))["parent_id"] == second.reply_id
    assert (await events(redis, back.reply_id))[-1][0] == DONE


async def test_a_regenerated_reply_is_a_version_of_the_first_and_the_branch_ends_at_it(deps, unique_name):
    handler, store, _redis, _ = deps
    first = request(unique_name)
    await handler.handle(first)
    again = request(
        unique_name,
        conversation_id=first.conversation_id,
        user_id=first.user_id,
        message_id=first.message_id,
        regenerate_of=first.reply_id,
    )
    await handler.handle(again)
    replies = [
        m
        for m in await store.list_messages(first.user_id, first.conversation_id, 10)
        if m["role"] == "assistant"
    ]
    assert [r["parent_id"] for r in replies] == [first.message_id, first.message_id]
    conversation = await store.get_conversation(first.user_id, first.conversation_id)
    assert conversation["current_leaf"] == first.message_id  # the branch goes on to its newest reply
    nxt = await _ask(handler, unique_name, first, "next")
    assert (await store.get_message(nxt.message_id))["parent_id"] == again.reply_id


async def test_a_parent_or_edit_outside_the_conversation_fails_the_reply_and_stores_nothing(
    deps, unique_name
):
    handler, store, redis, _ = deps
    mine = request(unique_name)
    await handler.handle(mine)
    theirs = request(unique_name)
    await handler.handle(theirs)
    for named in ({"parent_id": theirs.reply_id}, {"edit_of": theirs.message_id}, {"parent_id": "no-such"},
                  {"edit_of": mine.reply_id}):  # fmt: skip
        req = request(unique_name, conversation_id=mine.conversation_id, user_id=mine.user_id, **named)
        await handler.handle(req)
        last = (await events(redis, req.reply_id))[-1]
        assert last[0] == FAILED and last[1]["code"] == "message_not_found", named
        assert await store.get_message(req.message_id) is None
    assert len(await store.list_messages(theirs.user_id, theirs.conversation_id, 10)) == 2


async def test_a_redelivered_edit_keeps_the_parent_it_was_stored_with(deps, unique_name):
    handler, store, _redis, _ = deps
    first = request(unique_name)
    await handler.handle(first)
    second = await _ask(handler, unique_name, first, "two")
    edit = request(unique_name, conversation_id=first.conversation_id, user_id=first.user_id,
                   edit_of=second.message_id, content="two, edited")  # fmt: skip
    await handler.handle(edit)
    await store.touch_conversation(first.conversation_id, current_leaf=second.reply_id)
    await handler.handle(edit)
    messages = await store.list_messages(first.user_id, first.conversation_id, 10)
    assert [m["_id"] for m in messages].count(edit.message_id) == 1
    assert (await store.get_message(edit.message_id))["parent_id"] == first.reply_id


async def test_a_message_sent_while_the_reply_before_it_was_written_is_listed_after_it(deps, unique_name):
    """A client that does not wait for a reply sends its next message while the reply is written:
    the message is stamped before the reply it follows. It is listed after it all the same, and the
    conversation exports (every message after its parent)."""
    handler, store, _redis, _ = deps
    first = request(unique_name)
    await handler.handle(first)
    sent_early = {"conversation_id": first.conversation_id, "user_id": first.user_id,
                  "occurred_at": first.occurred_at}  # fmt: skip
    follows = request(unique_name, content="follows the branch", **sent_early)
    await handler.handle(follows)
    named = request(unique_name, content="names its parent", parent_id=first.reply_id, **sent_early)
    await handler.handle(named)
    edit = request(unique_name, content="a new version", edit_of=follows.message_id, **sent_early)
    await handler.handle(edit)

    messages = await store.all_messages(first.user_id, first.conversation_id, 20)
    position = {m["_id"]: i for i, m in enumerate(messages)}
    assert len(messages) == 8
    assert all(position[m["parent_id"]] < position[m["_id"]] for m in messages if m["parent_id"])
    assert position[follows.message_id] < position[edit.message_id]  # the edit is the newest version
    conversation = await store.get_conversation(first.user_id, first.conversation_id)
    exported = await archived_conversation(store, first.user_id, conversation)
    assert [m.id for m in exported.messages] == [m["_id"] for m in messages]
    nxt = await _ask(handler, unique_name, first, "next")
    assert (await store.get_message(nxt.message_id))["parent_id"] == edit.reply_id
