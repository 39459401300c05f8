"""Structured output, tool calling and sampling options of `/v1/chat/completions` (issue 24, decision
0064) with clients nobody here wrote: the official `openai` SDK for Python and for node, and
LangChain's `ChatOpenAI`, against the real stack and the real local model served by llama-server.

What a 135M model says is often wrong; its form is not: the grammar makes every answer parse, so
these tests check the form (a parsed object, a call of a given function with JSON arguments) and
that the same seed gives the same text.
"""

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.support.stack import UNTHROTTLED, Stack, isolation, register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
# The model pretty-prints the call format and often calls a function more than once: room for that.
TOOL_TOKENS = 200


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def stack(infra, inference_server) -> Iterator[Stack]:
    # Always llama-server (the default in every run mode): the in-process model is dev only.
    orchestrator = dict(
        llm_provider="inference", inference_url=inference_server.url, llm_max_tokens=96, ready_timeout_s=120
    )
    with Stack(infra, isolation("openai-structured"), orchestrator=orchestrator, backend=UNTHROTTLED) as up:
        yield up


async def new_key(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        auth = await register(api, "structured")
        created = await api.post("/api/keys", headers=auth, json={"name": "tools"})
        assert created.status_code == 201, created.text
        return created.json()["secret"]


@pytest.fixture(scope="module")
def key(stack) -> str:
    return asyncio.run(new_key(stack["backend"].url))


@pytest.fixture
async def client(stack, key) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(
        api_key=key, base_url=f"{stack['backend'].url}/v1", max_retries=0, timeout=300
    )
    yield client
    await client.close()


@pytest.fixture
async def model(client) -> str:
    return (await client.models.list()).data[0].id


async def test_parse_with_a_pydantic_model_gives_a_valid_object(client, model):
    completion = await client.beta.chat.completions.parse(
        model=model,
        messages=[{"role": "user", "content": "Invent a person: a name and an age."}],
        response_format=Person,
        max_tokens=64,
    )
    person = completion.choices[0].message.parsed
    assert isinstance(person, Person), completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"

    plain = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Invent a cat: its name and age."}],
        response_format={"type": "json_object"},
        max_tokens=200,
        temperature=0,
    )
    assert plain.choices[0].finish_reason == "stop", plain.choices[0].message.content
    assert isinstance(json.loads(plain.choices[0].message.content), dict)


async def test_a_tool_call_and_its_result_round_trip(client, model):
    asked = await client.chat.completions.create(
        model=model, messages=[QUESTION], tools=[WEATHER], tool_choice="required", max_tokens=TOOL_TOKENS
    )
    choice = asked.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)

    answered = await client.chat.completions.create(
        model=model,
        messages=[
            QUESTION,
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
        ],
        tools=[WEATHER],
        tool_choice="none",
        max_tokens=32,
    )
    assert answered.choices[0].message.tool_calls is None
    assert answered.choices[0].message.content.strip()

    single = await client.chat.completions.create(
        model=model,
        messages=[QUESTION],
        tools=[WEATHER, {"type": "function", "function": {"name": "get_time"}}],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
        max_tokens=TOOL_TOKENS,
    )
    assert [c.function.name for c in single.choices[0].message.tool_calls] == ["get_time"]


async def test_streamed_tool_calls_arrive_as_delta_tool_calls(client, model):
    stream = await client.chat.completions.create(
        model=model,
        messages=[QUESTION],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=TOOL_TOKENS,
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    pieces = [p for c in chunks if c.choices for p in (c.choices[0].delta.tool_calls or [])]
    assert pieces and pieces[0].function.name == "get_weather" and pieces[0].id.startswith("call_")
    arguments = "".join(p.function.arguments or "" for p in pieces if p.index == 0)
    assert isinstance(json.loads(arguments)["city"], str)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not any(c.choices and c.choices[0].delta.content for c in chunks), "the call's JSON is not text"


async def test_the_same_seed_gives_the_same_text_and_sampling_options_are_taken(client, model):
    story = [{"role": "user", "content": "Tell me a story about a fox."}]
    options = dict(temperature=1.2, top_p=0.95, presence_penalty=0.5, frequency_penalty=0.5, max_tokens=32)
    first = await client.chat.completions.create(model=model, messages=story, seed=1234, **options)
    again = await client.chat.completions.create(model=model, messages=story, seed=1234, **options)
    assert first.choices[0].message.content == again.choices[0].message.content
    others = {
        (await client.chat.completions.create(model=model, messages=story, seed=seed, **options))
        .choices[0]
        .message.content
        for seed in (1, 2, 3)
    }
    assert len(others | {first.choices[0].message.content}) > 1, "the seed changes the sampling"

    scored = await client.chat.completions.create(
        model=model, messages=story, max_tokens=4, temperature=0, logprobs=True, top_logprobs=2
    )
    tokens = scored.choices[0].logprobs.content
    assert tokens and all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)


def langchain(stack, key: str, model: str) -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        api_key=key,
        base_url=f"{stack['backend'].url}/v1",
        max_retries=0,
        timeout=300,
        max_tokens=TOOL_TOKENS,
    )


async def test_langchain_structured_output_by_every_method_and_bind_tools(stack, key, model):
    chat = langchain(stack, key, model)
    ask = [HumanMessage("Invent a person: a name and an age, as JSON.")]
    for method in ("json_schema", "function_calling"):
        person = await chat.with_structured_output(Person, method=method).ainvoke(ask)
        assert isinstance(person, Person), method
    as_json = await chat.with_structured_output(Person.model_json_schema(), method="json_mode").ainvoke(ask)
    assert isinstance(as_json, dict)

    message = await chat.bind_tools([WEATHER], tool_choice="get_weather").ainvoke(
        [HumanMessage(QUESTION["content"])]
    )
    # Parallel calls are allowed, and the model likes to ask about a second city.
    assert message.tool_calls and {c["name"] for c in message.tool_calls} == {"get_weather"}
    assert all(isinstance(c["args"]["city"], str) for c in message.tool_calls)
    single = await chat.bind_tools([WEATHER], tool_choice="get_weather", parallel_tool_calls=False).ainvoke(
        [HumanMessage(QUESTION["content"])]
    )
    assert [c["name"] for c in single.tool_calls] == ["get_weather"]


async def test_the_openai_npm_package_streams_tool_calls(stack, key, model):
    env = os.environ | {
        "ALICE_OPENAI_URL": f"{stack['backend'].url}/v1",
        "ALICE_OPENAI_KEY": key,
        "ALICE_OPENAI_MODEL": model,
    }
    run = await asyncio.to_thread(
        subprocess.run,
        ["node", "e2e/openai_tools.mjs"],
        cwd=FRONTEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# pass 1" in run.stdout and "# fail 0" in run.stdout, run.stdout[-2000:]
