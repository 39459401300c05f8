"""`/v1` through the real `openai` SDK against the in-process backend (real Redis and Kafka). The
test stands in for the orchestrator by writing the reply stream itself; the real orchestrator
and model are covered by tests/e2e/test_openai_api.py."""

import asyncio

import httpx
import openai
import pytest
from alice_common.events import ChatRequested, parse_event
from alice_common.reply_stream import FAILED, RESET, STATUS, TOKEN, ReplyStream, active_key, release_slot

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]


async def play_orchestrator(redis, user_id: str, events: list[tuple[str, dict]]) -> str:
    """Waits for the user's admitted reply, then writes its events as an orchestrator would."""
    for _ in range(250):
        ids = await redis.zrange(active_key(user_id), 0, -1)
        if ids:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("no reply was admitted")
    for event, data in events:
        await ReplyStream(redis, ids[0]).add(event, data)
    return ids[0]


def done(content: str, **extra) -> tuple[str, dict]:
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    return "done", {"message": {"content": content, "usage": usage, "model": "test-model", **extra}}


async def test_models_lists_what_the_orchestrator_serves(sdk):
    assert [m.id async for m in sdk.models.list()] == ["test-model", "org/second-model"]
    assert (await sdk.models.retrieve("test-model")).owned_by == "alice"
    assert (await sdk.models.retrieve("org/second-model")).id == "org/second-model"
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("gpt-4")


async def test_the_app_lists_the_same_models_with_the_default_marked(backend, user):
    response = await backend.client.get("/api/models", headers=backend.bearer(user["auth"]))
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "id": "test-model",
                "default": True,
                "context_tokens": 2048,
                "max_tokens_limit": 100,
                "available": True,
            },
            {
                "id": "org/second-model",
                "default": False,
                "context_tokens": 8192,
                "max_tokens_limit": 4096,
                "available": True,
            },
        ]
    }
    assert (await backend.client.get("/api/models")).status_code == 401


async def test_a_completion_for_another_model_names_it_in_the_event_within_its_own_limits(
    backend, sdk, redis, user
):
    # 200 tokens: over the default model's limit (100), within the second model's (4096).
    call = asyncio.create_task(
        sdk.chat.completions.create(model="org/second-model", messages=MESSAGES, max_tokens=200)
    )
    reply_id = await play_orchestrator(redis, user["id"], [done("Hi", model="org/second-model")])
    assert (await call).model == "org/second-model"
    events = [parse_event(record.value) for record in await backend.published_chat_requests()]
    request = next(e for e in events if isinstance(e, ChatRequested) and e.reply_id == reply_id)
    assert request.model == "org/second-model" and request.completion.max_tokens == 200
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="org/second-model", messages=MESSAGES, max_tokens=4097)
    assert caught.value.body["param"] == "max_tokens"


async def test_a_wrong_or_missing_key_is_an_authentication_error(backend, sdk):
    wrong = sdk.with_options(api_key="sk-alice-000000000000-" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as caught:
        await wrong.models.list()
    assert caught.value.body["code"] == "invalid_api_key" and caught.value.body["type"]
    bare = await backend.client.get("/v1/models")
    assert bare.status_code == 401 and set(bare.json()["error"]) == {"message", "type", "param", "code"}


async def test_a_completion_is_published_with_its_parameters_and_answered_from_the_stream(
    backend, sdk, redis, user
):
    call = asyncio.create_task(
        sdk.chat.completions.create(
            model="test-model", messages=MESSAGES, max_tokens=20, temperature=0, stop="\n\n"
        )
    )
    reply_id = await play_orchestrator(
        redis,
        user["id"],
        [
            (STATUS, {}),
            (TOKEN, {"delta": "Hel"}),
            (TOKEN, {"delta": "lo"}),
            done("Hello", finish_reason="length"),
        ],
    )
    completion = await call
    assert completion.id == f"chatcmpl-{reply_id}" and completion.model == "test-model"
    assert completion.choices[0].message.content == "Hello"
    assert completion.choices[0].finish_reason == "length"
    assert (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    ) == (7, 3, 10)

    events = [parse_event(record.value) for record in await backend.published_chat_requests()]
    request = next(e for e in events if isinstance(e, ChatRequested) and e.reply_id == reply_id)
    assert request.user_id == user["id"] and request.completion is not None
    assert request.model == "test-model"
    assert [t.model_dump(exclude_none=True) for t in request.completion.messages] == MESSAGES
    assert (request.completion.max_tokens, request.completion.temperature, request.completion.stop) == (
        20,
        0,
        ["\n\n"],
    )


async def test_streaming_sends_chunks_usage_and_done(sdk, redis, user):
    async def read() -> list:
        stream = await sdk.chat.completions.create(
            model="test-model", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return [chunk async for chunk in stream]

    call = asyncio.create_task(read())
    await play_orchestrator(
        redis, user["id"], [(TOKEN, {"delta": "Hi"}), (TOKEN, {"delta": " there"}), done("Hi there")]
    )
    chunks = await call
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 10


async def test_a_retried_stream_is_seamless_when_it_repeats_and_an_sdk_error_when_it_diverges(
    sdk, redis, user
):
    async def read() -> str:
        stream = await sdk.chat.completions.create(model="test-model", messages=MESSAGES, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    call = asyncio.create_task(read())
    same = [
        (TOKEN, {"delta": "The sea"}),
        (RESET, {}),
        (TOKEN, {"delta": "The sea is blue"}),
        done("The sea is blue"),
    ]
    await play_orchestrator(redis, user["id"], same)
    assert await call == "The sea is blue"

    await redis.delete(active_key(user["id"]))
    call = asyncio.create_task(read())
    other = [
        (TOKEN, {"delta": "The sea"}),
        (RESET, {}),
        (TOKEN, {"delta": "Mountains"}),
        done("Mountains"),
    ]
    await play_orchestrator(redis, user["id"], other)
    with pytest.raises(openai.APIError) as caught:
        await call
    assert caught.value.body["code"] == "retry_diverged"


async def test_a_failed_generation_is_an_error_streaming_or_not(sdk, redis, user):
    failed = [(FAILED, {"code": "generation_failed", "message": "The assistant could not generate a reply."})]
    call = asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
    await play_orchestrator(redis, user["id"], failed)
    with pytest.raises(openai.InternalServerError) as caught:
        await call
    assert caught.value.status_code == 502 and caught.value.body["code"] == "generation_failed"


async def test_parameters_alice_cannot_honour_are_refused_with_400(sdk):
    cases = [
        (dict(model="nope"), openai.NotFoundError, "model"),
        (dict(max_tokens=101), openai.BadRequestError, "max_tokens"),
        (dict(max_completion_tokens=0), openai.BadRequestError, "max_completion_tokens"),
        (dict(temperature=3), openai.BadRequestError, "temperature"),
        (dict(n=2), openai.BadRequestError, "n"),
        (dict(top_p=1.5), openai.BadRequestError, "top_p"),
        (dict(logprobs=False, top_logprobs=2), openai.BadRequestError, "top_logprobs"),
        (dict(prediction={"type": "content", "content": "x"}), openai.BadRequestError, "prediction"),
        (dict(tool_choice="required"), openai.BadRequestError, "tool_choice"),
        (
            dict(
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {}}}}
            ),
            openai.BadRequestError,
            "response_format.json_schema.schema",
        ),
        (dict(stop=["a", "b", "c", "d", "e"]), openai.BadRequestError, "stop"),
        (
            dict(messages=[{"role": "tool", "content": "x"}]),
            openai.BadRequestError,
            "messages.0.tool_call_id",
        ),
        (dict(messages=[]), openai.BadRequestError, "messages"),
        (
            dict(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
            openai.BadRequestError,
            "messages.0.content",
        ),
    ]
    for override, error, param in cases:
        kwargs = {"model": "test-model", "messages": MESSAGES} | override
        with pytest.raises(error) as caught:
            await sdk.chat.completions.create(**kwargs)
        assert caught.value.body["param"] == param, (override, caught.value.body)
        assert caught.value.body["type"] == "invalid_request_error"


async def test_malformed_json_is_400_in_openai_shape(backend, user):
    headers = {"Authorization": f"Bearer {user['key']}", "Content-Type": "application/json"}
    bad_json = await backend.client.post("/v1/chat/completions", content=b"{", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert bad_json.json()["error"]["type"] == "invalid_request_error"


async def test_an_oversized_body_is_413_in_openai_shape(backend, user):
    headers = {"Authorization": f"Bearer {user['key']}", "Content-Type": "application/json"}
    big = b'{"model": "test-model", "messages": [{"role": "user", "content": "' + b"x" * 300_000 + b'"}]}'
    response = await backend.client.post("/v1/chat/completions", content=big, headers=headers)
    assert response.status_code == 413 and response.json()["error"]["type"] == "invalid_request_error"


async def test_neutral_values_of_unsupported_parameters_are_accepted(sdk, redis, user):
    """Many clients always send these; at their defaults they change nothing."""
    neutral = dict(n=1, user="me", seed=None, store=False)
    call = asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES, **neutral))
    await play_orchestrator(redis, user["id"], [done("ok")])
    assert (await call).choices[0].message.content == "ok"


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


async def test_tools_and_sampling_travel_in_the_event_and_tool_calls_come_back_streamed_or_not(
    backend, sdk, redis, user
):
    round_trip = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees"},
    ]
    options = dict(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, seed=7, top_p=0.9)
    call = asyncio.create_task(
        sdk.chat.completions.create(model="test-model", messages=round_trip, **options)
    )
    reply_id = await play_orchestrator(
        redis, user["id"], [done("", tool_calls=[CALL], finish_reason="tool_calls")]
    )
    completion = await call
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.choices[0].message.content is None
    assert completion.choices[0].message.tool_calls[0].function.arguments == '{"city":"Paris"}'
    events = [parse_event(record.value) for record in await backend.published_chat_requests()]
    request = next(e for e in events if isinstance(e, ChatRequested) and e.reply_id == reply_id).completion
    assert request.tools[0]["function"]["name"] == "get_weather" and request.tool_choice == "required"
    assert request.parallel_tool_calls is False and request.seed == 7 and request.top_p == 0.9
    assert request.messages[2].tool_calls == [CALL] and request.messages[3].role == "tool"
    assert request.messages[3].tool_call_id == "call_1" and request.top_logprobs is None
    await release_slot(redis, user["id"], reply_id)  # the orchestrator's part

    async def read() -> list:
        stream = await sdk.chat.completions.create(
            model="test-model", messages=MESSAGES, tools=[WEATHER], stream=True
        )
        return [chunk async for chunk in stream]

    streamed = asyncio.create_task(read())
    await play_orchestrator(redis, user["id"], [done("", tool_calls=[CALL], finish_reason="tool_calls")])
    chunks = await streamed
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    assert [(d.index, d.id, d.function.name, d.function.arguments) for d in deltas] == [
        (0, "call_1", "get_weather", '{"city":"Paris"}')
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_logprobs_come_back_when_asked_for(sdk, redis, user):
    token = {"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}
    call = asyncio.create_task(
        sdk.chat.completions.create(model="test-model", messages=MESSAGES, logprobs=True, top_logprobs=1)
    )
    await play_orchestrator(redis, user["id"], [done("Hi", logprobs=[token])])
    completion = await call
    assert completion.choices[0].logprobs.content[0].logprob == -0.5


async def _answer_each_in_turn(redis, user_id: str, count: int) -> list[int]:
    """An orchestrator that ends the user's running replies one after another (each `done` frees
    its slot); returns how many were running each time it looked."""
    running_counts = []
    for n in range(count):
        for _ in range(500):
            running = await redis.zrange(active_key(user_id), 0, -1)
            if running:
                break
            await asyncio.sleep(0.02)
        running_counts.append(len(running))
        event, data = done(f"answer {n}")
        await ReplyStream(redis, running[0]).end(event, data, 60, user_id)
    return running_counts


async def test_requests_over_the_cap_wait_their_turn_and_are_all_answered(backend, sdk, redis, user):
    backend.ctx.settings.max_concurrent_generations = 1
    calls = [
        asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
        for _ in range(3)
    ]
    running_counts = await _answer_each_in_turn(redis, user["id"], 3)
    answers = sorted(c.choices[0].message.content for c in await asyncio.gather(*calls))
    assert answers == ["answer 0", "answer 1", "answer 2"]
    assert running_counts == [1, 1, 1]  # the cap still holds: the others waited


async def test_a_streaming_waiter_gets_keep_alive_bytes_then_its_reply(backend, redis, user):
    backend.ctx.settings.max_concurrent_generations = 1
    headers = {"Authorization": f"Bearer {user['key']}"}
    body = {"model": "test-model", "messages": MESSAGES, "stream": True}

    async def stream() -> httpx.Response:
        return await backend.client.post("/v1/chat/completions", headers=headers, json=body)

    first, second = asyncio.create_task(stream()), asyncio.create_task(stream())
    await _answer_each_in_turn(redis, user["id"], 2)
    replies = [await first, await second]
    assert [r.status_code for r in replies] == [200, 200]
    waited = next(r.text for r in replies if r.text.startswith(": keep-alive"))
    assert waited.index(": keep-alive") < waited.index('"role":"assistant"')
    assert waited.rstrip().endswith("data: [DONE]") and '"finish_reason":"stop"' in waited


async def test_past_the_line_bound_a_rate_limit_error_with_retry_after(backend, sdk):
    backend.ctx.settings.max_concurrent_generations = 1
    backend.ctx.settings.generation_queue_length = 0
    first = asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
    await asyncio.sleep(0.3)
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model="test-model", messages=MESSAGES, stream=stream)
        assert int(caught.value.response.headers["retry-after"]) >= 1
        assert caught.value.body["code"] == "rate_limit_exceeded" and caught.value.body["type"] == "requests"
    first.cancel()


async def test_the_send_rate_is_a_rate_limit_error_not_a_wait(backend, sdk):
    backend.ctx.settings.send_rate_capacity = 1
    backend.ctx.settings.send_rate_per_s = 0.01
    first = asyncio.create_task(sdk.chat.completions.create(model="test-model", messages=MESSAGES))
    await asyncio.sleep(0.3)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(model="test-model", messages=MESSAGES)
    assert int(caught.value.response.headers["retry-after"]) >= 60
    assert caught.value.body["code"] == "rate_limit_exceeded"
    first.cancel()


async def test_a_prompt_longer_than_the_context_is_refused_before_it_is_admitted(backend, sdk, redis, user):
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="test-model", messages=long, stream=True)
    assert caught.value.body["code"] == "context_length_exceeded" and caught.value.body["param"] == "messages"
    assert "2048" in caught.value.body["message"]
    assert await redis.zcard(active_key(user["id"])) == 0  # nothing admitted, nothing generated
