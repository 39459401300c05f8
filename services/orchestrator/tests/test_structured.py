"""Structured output and tool calls of `/v1` requests (decision 0064): what the provider is asked,
and what the client gets back from the model's text."""

import json

import httpx
import pytest
from alice_common.events import ChatTurn, CompletionRequest
from alice_orchestrator.chat import structured
from alice_orchestrator.providers.base import ProviderError
from alice_orchestrator.providers.openai_compat import OpenAICompatProvider

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"$ref": "#/$defs/City"}},
            "required": ["city"],
            "$defs": {"City": {"type": "string", "maxLength": 40}},
        },
    },
}
CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def request(**fields) -> CompletionRequest:
    turns = [ChatTurn(role="user", content="Weather in Paris?")]
    return CompletionRequest(messages=fields.pop("messages", turns), **fields)


def test_for_the_local_model_tools_become_a_prompt_and_a_schema_and_results_become_text():
    turns = [
        ChatTurn(role="user", content="Weather in Paris?"),
        ChatTurn(role="assistant", content="", tool_calls=[CALL]),
        ChatTurn(role="tool", content="18 degrees", tool_call_id="c1"),
    ]
    plan = structured.plan(request(messages=turns, tools=[WEATHER], top_p=0.5), native_tools=False)
    assert plan.tools_as_json
    prompt, *rest = plan.messages
    assert prompt["role"] == "system" and "get_weather: The weather of a city" in prompt["content"]
    assert '"response"' in prompt["content"]  # tool_choice auto: it may answer in text
    assert rest[1] == {
        "role": "assistant",
        "content": '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}',
    }
    assert rest[2] == {"role": "user", "content": "Result of get_weather: 18 degrees"}
    schema = plan.options["response_format"]["json_schema"]["schema"]
    calls = schema["anyOf"][0]["properties"]["tool_calls"]
    assert calls["maxItems"] == structured.MAX_PARALLEL_CALLS
    arguments = calls["items"]["anyOf"][0]["properties"]["arguments"]
    assert arguments["properties"]["city"] == {"$ref": "#/$defs/get_weather__City"}
    assert schema["$defs"] == {"get_weather__City": {"type": "string", "maxLength": 40}}
    assert plan.options["top_p"] == 0.5


def test_required_named_and_single_calls_narrow_the_schema_and_none_drops_the_tools():
    other = {"type": "function", "function": {"name": "other"}}
    named = {"type": "function", "function": {"name": "get_weather"}}
    plan = structured.plan(
        request(tools=[WEATHER, other], tool_choice=named, parallel_tool_calls=False), native_tools=False
    )
    schema = plan.options["response_format"]["json_schema"]["schema"]
    assert "anyOf" not in schema  # no text answer
    calls = schema["properties"]["tool_calls"]
    assert calls["maxItems"] == 1 and len(calls["items"]["anyOf"]) == 1
    assert "other" not in plan.messages[0]["content"]
    none = structured.plan(request(tools=[WEATHER], tool_choice="none"), native_tools=False)
    assert not none.tools_as_json and "response_format" not in none.options and len(none.messages) == 1


def test_an_upstream_gets_the_fields_as_they_came():
    turns = [
        ChatTurn(role="assistant", content="", tool_calls=[CALL]),
        ChatTurn(role="tool", content="18", tool_call_id="c1"),
    ]
    fields = dict(
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        top_logprobs=2,
        logit_bias={"5": 1.0},
    )
    plan = structured.plan(request(messages=turns, **fields), native_tools=True)
    assert not plan.tools_as_json and plan.messages[0]["tool_calls"] == [CALL]
    assert plan.messages[1] == {"role": "tool", "content": "18", "tool_call_id": "c1"}
    assert plan.options == {
        "tools": [WEATHER], "tool_choice": "required", "parallel_tool_calls": False,
        "logprobs": True, "top_logprobs": 2, "logit_bias": {"5": 1.0},
    }  # fmt: skip


def test_the_json_format_is_parsed_into_tool_calls_or_a_text_answer():
    params = request(tools=[WEATHER])
    plan = structured.plan(params, native_tools=False)
    text = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}'
    answer = structured.answer(params, plan, text, "stop", None, "0123456789abcdef0123")
    assert answer.finish_reason == "tool_calls" and answer.content == ""
    assert answer.tool_calls == [
        {"id": "call_0123456789abcdef_0", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    ]  # fmt: skip
    spoken = structured.answer(params, plan, '{"response": "Sunny."}', "stop", None, "r")
    assert (spoken.content, spoken.tool_calls, spoken.finish_reason) == ("Sunny.", None, "stop")
    cut = structured.answer(params, plan, '{"tool_ca', "length", None, "r")
    assert (cut.content, cut.finish_reason) == ('{"tool_ca', "length")
    listing = (
        '{"tool_calls": [\n  {"name": "get_weather", "arguments": {"city": "Paris"}},\n  {"name": "get_we'
    )
    whole = structured.answer(params, plan, listing, "length", None, "0123456789abcdef0123")
    assert whole.finish_reason == "tool_calls" and [c["function"]["arguments"] for c in whole.tool_calls] == [
        '{"city": "Paris"}'
    ]
    ended_at_the_limit = structured.answer(params, plan, '{"response": "Sunny."}', "length", None, "r")
    assert (ended_at_the_limit.content, ended_at_the_limit.finish_reason) == ("Sunny.", "stop")
    with pytest.raises(ProviderError):
        structured.answer(params, plan, "Sunny.", "stop", None, "r")


def test_output_is_checked_against_the_response_format():
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON, "strict": True}}
    params = request(response_format=fmt)
    plan = structured.plan(params, native_tools=False)
    assert plan.options["response_format"] == fmt and not plan.tools_as_json
    assert structured.answer(params, plan, '{"name": "Bob", "age": 30}', "stop", None, "r").content
    for wrong in ('{"name": "Bob"}', '{"name": "Bob", "age": "thirty"}', "Bob, 30"):
        with pytest.raises(ProviderError):
            structured.answer(params, plan, wrong, "stop", None, "r")
    as_object = request(response_format={"type": "json_object"})
    with pytest.raises(ProviderError):
        structured.answer(as_object, structured.plan(as_object, False), "[1, 2]", "stop", None, "r")


def test_the_clients_seed_wins_and_fits_in_32_bits():
    assert structured.seed(request(), 99) == 99
    assert structured.seed(request(seed=7), 99) == 7
    assert structured.seed(request(seed=2**40 + 5), 99) == 5


async def test_an_upstreams_streamed_tool_calls_and_logprobs_are_assembled():
    def piece(index: int, arguments: str, **call) -> dict:
        return {"delta": {"tool_calls": [{"index": index, "function": {"arguments": arguments}} | call]}}

    first = {"id": "call_a", "type": "function"}
    pieces = [
        {"delta": {"tool_calls": [{"index": 0, **first, "function": {"name": "get_weather"}}]}},
        piece(0, '{"city":'),
        piece(1, "", id="call_b") | {"delta": {"tool_calls": [{"index": 1, "id": "call_b", "function": {
            "name": "get_weather", "arguments": '{"city":"Rome"}'}}]}},
        piece(0, '"Paris"}') | {"finish_reason": "tool_calls"}
        | {"logprobs": {"content": [{"token": "x", "logprob": -1.0, "top_logprobs": []}]}},
    ]  # fmt: skip
    body = "".join("data: " + json.dumps({"choices": [p]}) + "\n\n" for p in pieces) + "data: [DONE]\n\n"
    seen: list[httpx.Request] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        seen.append(http_request)
        return httpx.Response(200, content=body.encode(), headers={"content-type": "text/event-stream"})

    provider = OpenAICompatProvider("http://llm.test/v1", "m", transport=httpx.MockTransport(handler))
    generation = provider.stream(
        [{"role": "user", "content": "hi"}],
        max_tokens=5,
        temperature=0,
        options={"tools": [WEATHER], "top_p": 0.5},
    )
    assert [delta async for delta in generation] == []
    assert generation.finish_reason == "tool_calls"
    assert [(c["id"], c["function"]["arguments"]) for c in generation.extra["tool_calls"]] == [
        ("call_a", '{"city":"Paris"}'),
        ("call_b", '{"city":"Rome"}'),
    ]
    assert generation.extra["logprobs"][0]["logprob"] == -1.0
    sent = json.loads(seen[0].content)
    assert sent["tools"] == [WEATHER] and sent["top_p"] == 0.5
    await provider.close()
