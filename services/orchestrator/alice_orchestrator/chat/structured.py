"""Structured output, tool calls and sampling options of a `/v1` request
(docs/decisions/0064-structured-output-and-tools.md).

An upstream that speaks OpenAI's API gets the fields as they came (`native_tools`). The bundled
model's chat template has no tool format, so for llama-server and the in-process model the tools
become a prompt and a JSON schema the grammar enforces (`{"tool_calls": [...]}`, or with
`tool_choice: auto` also `{"response": ...}`); the finished text is parsed back into OpenAI's
`tool_calls`. That text is JSON nobody asked to see, so it is held back from the reply stream.
Whatever the path, output that claims to follow `response_format` is checked against it.
"""

import json
from dataclasses import dataclass, field

from alice_common import linear_re
from alice_common.events import CompletionRequest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from alice_orchestrator.providers.base import ProviderError

MAX_PARALLEL_CALLS = 8
SEED_RANGE = 2**32  # llama.cpp's seeds are 32-bit
ANSWER = "response"


@dataclass
class Plan:
    messages: list[dict]
    # OpenAI request fields for the provider's body.
    options: dict = field(default_factory=dict)
    # The model answers in the JSON tool format: parse it, and do not stream it.
    tools_as_json: bool = False


@dataclass
class Answer:
    content: str
    tool_calls: list[dict] | None = None
    finish_reason: str | None = None


def seed(params: CompletionRequest, derived: int | None) -> int | None:
    """The client's seed when it gave one, else the one derived from the reply id."""
    return derived if params.seed is None else params.seed % SEED_RANGE


def sampling(params: CompletionRequest) -> dict:
    options: dict = {}
    for name in ("top_p", "frequency_penalty", "presence_penalty"):
        if getattr(params, name) is not None:
            options[name] = getattr(params, name)
    if params.logit_bias:
        options["logit_bias"] = params.logit_bias
    if params.top_logprobs is not None:
        options |= {"logprobs": True, "top_logprobs": params.top_logprobs}
    return options


def plan(params: CompletionRequest, native_tools: bool) -> Plan:
    turns = [turn.model_dump(exclude_none=True) for turn in params.messages]
    options = sampling(params)
    if native_tools:
        for name in ("response_format", "tool_choice"):
            if getattr(params, name) is not None:
                options[name] = getattr(params, name)
        if params.tools:
            options |= {"tools": params.tools, "parallel_tool_calls": params.parallel_tool_calls}
        return Plan(turns, options)
    messages = _as_text(turns)
    if not params.tools or params.tool_choice == "none":
        if params.response_format is not None:
            options["response_format"] = params.response_format
        return Plan(messages, options)
    tools = _chosen(params)
    schema = _tools_schema(tools, params)
    options["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "tool_calls", "schema": schema},
    }
    prompt = {"role": "system", "content": _tools_prompt(tools, answers=_may_answer(params))}
    return Plan([prompt, *messages], options, tools_as_json=True)


def _may_answer(params: CompletionRequest) -> bool:
    return params.tool_choice in (None, "auto")


def _chosen(params: CompletionRequest) -> list[dict]:
    functions = [tool["function"] for tool in params.tools]
    if isinstance(params.tool_choice, dict):
        name = params.tool_choice["function"]["name"]
        return [f for f in functions if f["name"] == name]
    return functions


def _as_text(turns: list[dict]) -> list[dict]:
    """Calls and their results as text the template can show: a call as the JSON the model would
    write, a result as a user turn naming the function it came from."""
    names: dict[str, str] = {}
    messages = []
    for turn in turns:
        if turn.get("tool_calls"):
            calls = []
            for call in turn["tool_calls"]:
                names[call["id"]] = call["function"]["name"]
                calls.append(
                    {"name": call["function"]["name"], "arguments": _loads(call["function"]["arguments"])}
                )
            messages.append({"role": "assistant", "content": json.dumps({"tool_calls": calls})})
        elif turn["role"] == "tool":
            name = names.get(turn.get("tool_call_id", ""), "the function")
            messages.append({"role": "user", "content": f"Result of {name}: {turn['content']}"})
        else:
            messages.append({"role": turn["role"], "content": turn["content"]})
    return messages


def _loads(arguments: str) -> object:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _hoisted(parameters: dict, prefix: str, defs: dict) -> dict:
    """A tool's parameters with its `$defs` moved to the combined schema's root, renamed."""
    text = json.dumps({k: v for k, v in parameters.items() if k not in ("$defs", "definitions")})
    local = {**parameters.get("definitions", {}), **parameters.get("$defs", {})}
    for name in local:
        for root in ("#/$defs/", "#/definitions/"):
            text = text.replace(json.dumps(f"{root}{name}"), json.dumps(f"#/$defs/{prefix}{name}"))
    for name, sub in local.items():
        defs[f"{prefix}{name}"] = _hoisted(sub, prefix, {}) if isinstance(sub, dict) else sub
    return json.loads(text)


def _tools_schema(tools: list[dict], params: CompletionRequest) -> dict:
    defs: dict = {}
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["name"]},
                "arguments": _hoisted(
                    tool.get("parameters") or {"type": "object"}, f"{tool['name']}__", defs
                ),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    most = MAX_PARALLEL_CALLS if params.parallel_tool_calls else 1
    schema: dict = {
        "type": "object",
        "properties": {
            "tool_calls": {"type": "array", "minItems": 1, "maxItems": most, "items": {"anyOf": calls}}
        },
        "required": ["tool_calls"],
        "additionalProperties": False,
    }
    if _may_answer(params):
        answer = _format_schema(params) or {"type": "string"}
        response = {
            "type": "object",
            "properties": {ANSWER: answer},
            "required": [ANSWER],
            "additionalProperties": False,
        }
        schema = {"anyOf": [schema, response]}
    if defs:
        schema["$defs"] = defs
    return schema


def _tools_prompt(tools: list[dict], answers: bool) -> str:
    lines = [
        "You can call functions. To call one, answer only with JSON: "
        '{"tool_calls": [{"name": "<function name>", "arguments": {<its arguments>}}]}.'
    ]
    if answers:
        lines.append(f'To answer without calling a function, answer {{"{ANSWER}": <your answer>}}.')
    lines.append("Functions:")
    for tool in tools:
        description = f": {tool['description']}" if tool.get("description") else ""
        parameters = json.dumps(tool.get("parameters") or {}, separators=(",", ":"))
        lines.append(f"- {tool['name']}{description} Arguments (JSON schema): {parameters}")
    return "\n".join(lines)


def _format_schema(params: CompletionRequest) -> dict | None:
    fmt = params.response_format or {}
    if fmt.get("type") == "json_schema":
        return fmt["json_schema"].get("schema") or {}
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


def answer(
    params: CompletionRequest,
    plan_: Plan,
    content: str,
    finish_reason: str | None,
    tool_calls: list[dict] | None,
    reply_id: str,
) -> Answer:
    """The reply as the client gets it: calls parsed from the JSON format (ids derived from the
    reply id, so a retry names them alike), text checked against `response_format`."""
    if plan_.tools_as_json and finish_reason == "length":
        if _complete_json(content):
            finish_reason = "stop"  # the grammar's end and the token limit fell together
        elif calls := _whole_calls(content):
            # A small model may list call after call until the limit: the whole ones stand.
            content, finish_reason = json.dumps({"tool_calls": calls}), "stop"
    if finish_reason == "length":  # cut: nothing to parse or check (the SDKs raise for it)
        return Answer(content, tool_calls, finish_reason)
    if plan_.tools_as_json:
        data = _parsed(content, "the tool-call format")
        if isinstance(data, dict) and "tool_calls" in data:
            calls = [
                {
                    "id": f"call_{reply_id[:16]}_{index}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                }
                for index, call in enumerate(data["tool_calls"])
            ]
            return Answer("", calls, "tool_calls")
        response = data.get(ANSWER) if isinstance(data, dict) else None
        content = response if isinstance(response, str) else json.dumps(response)
    if tool_calls:
        return Answer(content, tool_calls, "tool_calls")
    check(params, content)
    return Answer(content, None, finish_reason)


def check(params: CompletionRequest, content: str) -> None:
    schema = _format_schema(params)
    if schema is None:
        return
    data = _parsed(content, "JSON")
    if params.response_format and params.response_format["type"] == "json_object":
        if not isinstance(data, dict):
            raise ProviderError("the model's output is JSON but not an object")
        return
    try:
        Draft202012Validator(schema).validate(data)
    except (ValidationError, SchemaError) as exc:
        raise ProviderError(f"the model's output does not match the schema: {exc.message[:200]}") from exc


def _parsed(content: str, what: str) -> object:
    try:
        return json.loads(content)
    except ValueError as exc:
        raise ProviderError(f"the model's output is not {what}: {content[:100]!r}") from exc


_CALLS_START = linear_re.compile(r'^\s*\{\s*"tool_calls"\s*:\s*\[')


def _whole_calls(content: str) -> list[dict]:
    """The complete call objects at the start of a tool-call list cut by the token limit."""
    opening = _CALLS_START.match(content)
    if opening is None:
        return []
    decoder, calls, index = json.JSONDecoder(), [], opening.end()
    while True:
        while index < len(content) and content[index] in " \t\r\n,":
            index += 1
        try:
            call, index = decoder.raw_decode(content, index)
        except ValueError:
            return calls
        if not (isinstance(call, dict) and isinstance(call.get("name"), str) and "arguments" in call):
            return calls
        calls.append(call)


def _complete_json(content: str) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True
