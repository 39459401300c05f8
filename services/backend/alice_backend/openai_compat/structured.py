"""Checks of `response_format`, `tools` and `tool_choice` (decision 0064).


A JSON schema becomes a grammar in llama-server, which knows only some of JSON Schema and ignores
the rest: a schema using anything else would constrain less than it says, so it is refused here,
naming the keyword, instead of producing output the orchestrator's check would then reject.
"""

import json
from typing import Any

from alice_common import linear_re

from alice_backend.openai_compat.errors import OpenAIError

MAX_SCHEMA_CHARS = 16_384
MAX_TOOLS = 32
MAX_TOOLS_CHARS = 65_536
MAX_SCHEMA_DEPTH = 16
MAX_DESCRIPTION_CHARS = 2048
NAME = linear_re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What llama.cpp's JSON-schema-to-grammar conversion honours.
CONSTRAINTS = {
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems",
    "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions",
    "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum",
}  # fmt: skip
# Words about the data that constrain nothing.
ANNOTATIONS = {
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
    "readOnly", "writeOnly", "strict",
}  # fmt: skip
FORMATS = {"date", "time", "date-time", "uuid"}
SCHEMA_MAPS = {"properties", "$defs", "definitions"}
SCHEMA_LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}


def _schema_error(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, "unsupported_schema", message, param)


def _check_schema(schema: Any, param: str, path: str = "#", depth: int = 0) -> None:
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise _schema_error(param, f"{path} is not a JSON schema (an object)")
    if depth > MAX_SCHEMA_DEPTH:
        raise _schema_error(param, f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    for keyword, value in schema.items():
        where = f"{path}/{keyword}"
        if keyword in ANNOTATIONS:
            continue
        if keyword not in CONSTRAINTS:
            raise _schema_error(
                param, f"{where}: '{keyword}' cannot be enforced by the local model's grammar; remove it"
            )
        if keyword == "$ref" and not (isinstance(value, str) and value.startswith("#")):
            raise _schema_error(
                param, f"{where}: only references into the same schema ('#/...') are supported"
            )
        if keyword == "format" and value not in FORMATS:
            raise _schema_error(
                param, f"{where}: format {value!r} is not supported; use one of {', '.join(sorted(FORMATS))}"
            )
        if keyword in SCHEMA_MAPS:
            if not isinstance(value, dict):
                raise _schema_error(param, f"{where} must be an object")
            for name, sub in value.items():
                _check_schema(sub, param, f"{where}/{name}", depth + 1)
        elif keyword in SCHEMA_LISTS:
            if not isinstance(value, list):
                raise _schema_error(param, f"{where} must be a list")
            for index, sub in enumerate(value):
                _check_schema(sub, param, f"{where}/{index}", depth + 1)
        elif keyword in ("items", "additionalProperties"):
            _check_schema(value, param, where, depth + 1)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def response_format(value: Any) -> dict | None:
    """The checked `response_format`; None for plain text."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise OpenAIError(
            400, "invalid_value", "response_format must be an object with a 'type'", "response_format"
        )
    kind = value["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise OpenAIError(
            400, "invalid_value",
            f"response_format type {kind!r} is not supported; use text, json_object or json_schema",
            "response_format.type",
        )  # fmt: skip
    spec = value.get("json_schema")
    param = "response_format.json_schema"
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not NAME.match(spec["name"]):
        raise OpenAIError(
            400,
            "invalid_value",
            "json_schema needs a 'name' of letters, digits, '_' or '-' (at most 64)",
            param,
        )
    schema = spec.get("schema", {})
    if _size(schema) > MAX_SCHEMA_CHARS:
        raise _schema_error(f"{param}.schema", f"the schema is longer than {MAX_SCHEMA_CHARS} characters")
    _check_schema(schema, f"{param}.schema")
    return {
        "type": "json_schema",
        "json_schema": {"name": spec["name"], "schema": schema, "strict": bool(spec.get("strict"))},
    }


def tools(value: Any) -> list[dict]:
    """The checked function tools, as OpenAI shapes them."""
    if not isinstance(value, list):
        raise OpenAIError(400, "invalid_value", "tools must be a list", "tools")
    if len(value) > MAX_TOOLS:
        raise OpenAIError(400, "invalid_value", f"at most {MAX_TOOLS} tools", "tools")
    if _size(value) > MAX_TOOLS_CHARS:
        raise OpenAIError(
            400, "invalid_value", f"the tools are longer than {MAX_TOOLS_CHARS} characters", "tools"
        )
    checked, names = [], set()
    for index, tool in enumerate(value):
        param = f"tools.{index}"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise OpenAIError(
                400, "invalid_value", "only tools of type 'function' are supported", f"{param}.type"
            )
        name = function.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise OpenAIError(
                400,
                "invalid_value",
                "a function name is 1-64 letters, digits, '_' or '-'",
                f"{param}.function.name",
            )
        if name in names:
            raise OpenAIError(400, "invalid_value", f"two tools are named {name!r}", f"{param}.function.name")
        names.add(name)
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        _check_schema(parameters, f"{param}.function.parameters")
        description = function.get("description")
        entry: dict = {"name": name, "parameters": parameters}
        if isinstance(description, str) and description:
            entry["description"] = description[:MAX_DESCRIPTION_CHARS]
        if function.get("strict") is not None:
            entry["strict"] = bool(function.get("strict"))
        checked.append({"type": "function", "function": entry})
    return checked


def tool_choice(value: Any, tool_names: set[str]) -> str | dict:
    """`none`, `auto`, `required`, or `{"type": "function", "function": {"name": ...}}` of a given tool."""
    if value in ("none", "auto", "required"):
        if value != "none" and not tool_names:
            raise OpenAIError(400, "invalid_value", f"tool_choice {value!r} needs tools", "tool_choice")
        return value
    function = value.get("function") if isinstance(value, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(value, dict) or value.get("type") != "function" or not isinstance(name, str):
        raise OpenAIError(
            400, "invalid_value",
            "tool_choice is 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}",
            "tool_choice",
        )  # fmt: skip
    if name not in tool_names:
        raise OpenAIError(
            400, "invalid_value", f"tool_choice names {name!r}, which is not among tools", "tool_choice"
        )
    return {"type": "function", "function": {"name": name}}
