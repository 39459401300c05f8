"""What `/v1/chat/completions` accepts of structured output, tools and sampling, and what it
refuses with a 400 naming the field (decision 0064)."""

import pytest
from alice_backend.openai_compat.errors import OpenAIError
from alice_backend.openai_compat.schemas import ChatCompletionIn, validate
from alice_common.events import ChatRequested

USER = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def checked(**fields):
    return validate(ChatCompletionIn(model="m", messages=fields.pop("messages", USER), **fields), 100)


def refused(**fields) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        checked(**fields)
    assert caught.value.status == 400
    return caught.value


def test_a_pydantic_schema_with_refs_and_a_tool_round_trip_are_accepted_and_survive_the_event():
    schema = {
        "$defs": {
            "City": {"properties": {"name": {"title": "Name", "type": "string"}}, "required": ["name"]}
        },
        "properties": {"cities": {"items": {"$ref": "#/$defs/City"}, "type": "array", "maxItems": 3}},
        "required": ["cities"],
        "title": "Cities",
        "type": "object",
        "additionalProperties": False,
    }
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "18 degrees"},
    ]  # fmt: skip
    request = checked(
        messages=messages,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "Cities", "schema": schema, "strict": True},
        },
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        seed=2**40,
        top_p=0.5,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        logit_bias={"42": -100},
        logprobs=True,
        top_logprobs=3,
    )
    event = ChatRequested(conversation_id="r", user_id="u", message_id="m", reply_id="r", content="")
    event.completion = request
    again = ChatRequested.model_validate_json(event.to_bytes()).completion
    assert again == request
    assert again.response_format["json_schema"]["strict"] is True
    assert again.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert again.messages[1].tool_calls[0]["function"]["name"] == "get_weather"
    assert again.messages[2].role == "tool" and again.messages[2].tool_call_id == "c1"
    assert again.top_logprobs == 3 and again.logit_bias == {"42": -100} and again.seed == 2**40


def test_an_event_of_an_older_backend_still_reads_with_defaults():
    old = b'{"type":"ChatRequested","conversation_id":"r","user_id":"u","message_id":"m","reply_id":"r",'
    old += b'"content":"","completion":{"messages":[{"role":"user","content":"Hi"}],"stop":[]}}'
    completion = ChatRequested.model_validate_json(old).completion
    assert completion.tools == [] and completion.response_format is None and completion.top_logprobs is None
    assert completion.parallel_tool_calls is True and completion.seed is None


def test_neutral_and_plain_values_change_nothing():
    request = checked(response_format={"type": "text"}, tool_choice="none", n=1, parallel_tool_calls=True)
    assert request.response_format is None and request.tools == [] and request.tool_choice == "none"
    assert checked(logprobs=False).top_logprobs is None
    assert checked(logprobs=True).top_logprobs == 0
    assert checked(response_format={"type": "json_object"}).response_format == {"type": "json_object"}


@pytest.mark.parametrize(
    ("fields", "param", "words"),
    [
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "object", "patternProperties": {"^a": {}}}}}},
         "response_format.json_schema.schema", "patternProperties"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "properties": {"a": {"$ref": "https://example.org/a.json"}}}}}},
         "response_format.json_schema.schema", "same schema"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "type": "string", "format": "email"}}}},
         "response_format.json_schema.schema", "email"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
            "description": "x" * 20_000}}}},
         "response_format.json_schema.schema", "longer than"),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
         "response_format.json_schema", "name"),
        ({"response_format": {"type": "grammar"}}, "response_format.type", "grammar"),
        ({"tools": [{"type": "file_search"}]}, "tools.0.type", "function"),
        ({"tools": [WEATHER] * 2}, "tools.1.function.name", "two tools"),
        ({"tools": [WEATHER] * 33}, "tools", "at most 32"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools.0.function.name", "letters"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "other"}}},
         "tool_choice", "not among"),
        ({"tool_choice": "auto"}, "tool_choice", "needs tools"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice", "required"),
        ({"logit_bias": {"hello": 1}}, "logit_bias", "token ids"),
        ({"logit_bias": {"1": 101}}, "logit_bias", "-100"),
        ({"logit_bias": {str(i): 1 for i in range(301)}}, "logit_bias", "300"),
        ({"top_logprobs": 2}, "top_logprobs", "logprobs: true"),
        ({"messages": [{"role": "tool", "content": "18"}]}, "messages.0.tool_call_id", "tool_call_id"),
        ({"messages": [{"role": "user", "content": "x", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
         "messages.0.tool_calls", "assistant"),
        ({"n": 2}, "n", "not supported"),
        ({"audio": {"voice": "x"}}, "audio", "not supported"),
    ],
)  # fmt: skip
def test_what_cannot_be_honoured_is_a_400_naming_the_field(fields, param, words):
    error = refused(**fields)
    assert error.param == param and words in error.message, (error.param, error.message)
