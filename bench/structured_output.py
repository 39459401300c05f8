"""Structured output and tool calls against plain generation on the local model (llama-server, the
inference provider): time to first token, tokens/s and time to the whole answer, one request at a
time (decision 0064).

    source scripts/env.sh
    $UV run --frozen python bench/structured_output.py --rounds 3

Each path is what the orchestrator asks of the provider for a `/v1` request (chat/structured.py
builds the messages and options): plain text; `response_format` json_schema (a grammar); tools
with `tool_choice: required` (the JSON tool format: a system message describing the tools and a
grammar). The client of a tool call sees nothing before the whole answer (the format's text is held
back), so for that path "first token" is the model's, "answer" what the client waits for. Every
round runs each path once, interleaved, on a private llama-server; figures are medians.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from alice_common.events import ChatTurn, CompletionRequest
from alice_orchestrator.chat import structured
from alice_orchestrator.providers.inference import InferenceProvider
from devstack.inference import private_inference_server
from devstack.testing import free_port

QUESTION = "What is the weather in Paris? Answer with the city and a temperature."
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
REPORT = {
    "type": "json_schema",
    "json_schema": {
        "name": "report",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
            "required": ["city", "celsius"],
            "additionalProperties": False,
        },
    },
}
PATHS = {
    "plain": {},
    "json_schema": {"response_format": REPORT},
    "tools (required)": {"tools": [WEATHER], "tool_choice": "required"},
}


async def one(provider: InferenceProvider, fields: dict, max_tokens: int, seed: int) -> dict:
    params = CompletionRequest(messages=[ChatTurn(role="user", content=QUESTION)], **fields)
    plan = structured.plan(params, provider.native_tools)
    started = time.perf_counter()
    generation = provider.stream(
        plan.messages, max_tokens=max_tokens, temperature=0.7, seed=seed, options=plan.options
    )
    first = None
    text = []
    async for delta in generation:
        first = first or time.perf_counter()
        text.append(delta)
    done = time.perf_counter()
    structured.answer(params, plan, "".join(text), generation.finish_reason, None, f"{seed:08x}")
    tokens = generation.completion_tokens
    streaming_s = done - (first or done)
    return {
        "ttft_ms": ((first or done) - started) * 1000,
        "answer_ms": (done - started) * 1000,
        "tokens": tokens,
        "tokens_per_s": (tokens - 1) / streaming_s if streaming_s > 0 and tokens > 1 else 0.0,
        "prompt_tokens": generation.prompt_tokens,
    }


async def measure(args: argparse.Namespace, url: str, model: str) -> dict[str, list[dict]]:
    provider = InferenceProvider(url, model)
    await provider.warm_up()
    runs: dict[str, list[dict]] = {name: [] for name in PATHS}
    for round_ in range(args.rounds):
        for name, fields in PATHS.items():
            runs[name].append(await one(provider, fields, args.max_tokens, seed=round_ + 1))
    await provider.close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    log_path = Path(tempfile.mkdtemp()) / "llama-server.log"
    with private_inference_server(free_port(), log_path, slots=1, threads=args.threads) as server:
        runs = asyncio.run(measure(args, server.url, server.model))
    print(f"{'path':<18}{'prompt tok':>11}{'TTFT ms':>9}{'answer ms':>11}{'tokens':>8}{'tok/s':>7}")
    for name, rows in runs.items():

        def median(key: str, rows: list[dict] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        print(
            f"{name:<18}{median('prompt_tokens'):>11.0f}{median('ttft_ms'):>9.0f}{median('answer_ms'):>11.0f}"
            f"{median('tokens'):>8.0f}{median('tokens_per_s'):>7.1f}"
        )


if __name__ == "__main__":
    main()
