"""Serving the chat model in-process (today's `local` provider) against the inference service
(llama.cpp's llama-server with parallel slots and continuous batching, the `inference` provider):
aggregate tokens/s and time to first token with N simultaneous generations.

    source scripts/env.sh
    $UV run --frozen python bench/inference.py --concurrency 1 2 4 8 --rounds 3

With `--engine-limit`, each round also runs llama.cpp's own `llama-batched-bench` (built by devstack
from the same sources on first use, cached; 64-token prompts, `--max-tokens` generated, the same
threads) on the same model: the engine's limit, measured in the same sitting.

Every generation runs to `--max-tokens`: the model's end-of-generation tokens are banned (a
`logit_bias`), as `llama-batched-bench` generates a fixed number. With natural ends, waves whose
replies stop early finish with fewer sequences in the batch, which lowers the aggregate for a reason
that has nothing to do with serving; `--natural-ends` measures that way.

Both run the orchestrator's own provider classes with their defaults (one llama.cpp thread each;
in-process: one model instance, so generations queue; the service: `--slots` slots on a private
port). Every round measures each (mode, N) cell once, the modes interleaved, so drift in the
shared machine's load hits both alike; the printed figures are medians over the rounds. A wave is
N generations started together at temperature 0 with the same questions, `--max-tokens` each.
"""

import argparse
import asyncio
import json
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import llama_cpp
from alice_orchestrator import titles
from alice_orchestrator.providers.base import ChatProvider
from alice_orchestrator.providers.inference import InferenceProvider
from alice_orchestrator.providers.local import LocalProvider
from devstack import provision
from devstack.components import bundled_model_path
from devstack.config import Config
from devstack.inference import private_inference_server
from devstack.testing import free_port
from local_model import QUESTIONS, one, wave  # the same waves as the in-process bench

# A first message of a new conversation, longer than the title reads (`TITLE_INPUT_CHARS`).
FIRST_MESSAGE = (
    "I am planning a trip to Portugal next spring with my family, two kids aged 7 and 11, and we would"
    " like to spend about ten days between Lisbon, Porto and the Algarve coast. Could you suggest an"
    " itinerary that balances city sightseeing with beach time, tells us which trains or buses to take"
    " between the cities, and mentions a few restaurants that are good for children? We also wonder"
    " whether renting a car makes sense for the Algarve part, and what the weather is usually like in"
    " April. Our budget is moderate, so please point out free museums or parks, and any passes that save"
    " money on public transport in Lisbon. Finally, what should we pack, and are there any local"
    " customs we should know about before we go there? Thank you so much for your help with all this."
)


async def reply_beside_a_title(provider: ChatProvider, with_title: bool) -> float:
    """TTFT (ms) of a new conversation's reply, with another conversation's title generation (the
    orchestrator's own title prompt, a chore) started just before it or not."""
    title = None
    if with_title:
        title = provider.stream(
            titles.title_messages(FIRST_MESSAGE), max_tokens=16, temperature=0.2, chore=True
        )

        async def drain() -> None:
            async for _delta in title:
                pass

        title_task = asyncio.create_task(drain())
        await asyncio.sleep(0.02)  # the title has started
    result = await one(provider, QUESTIONS[0], 8, time.perf_counter())
    if title is not None:
        await title_task
    return result["ttft_s"] * 1000


def fixed_length() -> dict:
    """Request options that ban each end-of-generation token of the default model."""
    model = llama_cpp.Llama(str(bundled_model_path()), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(model.model)
    ends = [t for t in range(model.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    model.close()
    return {"logit_bias": {str(t): -100 for t in ends}}


def engine_limit(binary: Path, concurrency: list[int], max_tokens: int, threads: int) -> dict[int, float]:
    """llama-batched-bench's generation tokens/s (S_TG) for each number of parallel sequences."""
    argv = [
        str(binary), "-m", str(bundled_model_path()), "-c", "8192", "-b", "2048", "-ub", "512",
        "-npp", "64", "-ntg", str(max_tokens), "-npl", ",".join(map(str, concurrency)),
        "-t", str(threads),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout
    rows: dict[int, float] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
        if len(cells) == 10 and cells[2].isdigit():
            rows[int(cells[2])] = float(cells[7])
    return rows


async def measure(args: argparse.Namespace, server_url: str, model: str) -> list[dict]:
    providers: dict[str, ChatProvider] = {
        "in-process": LocalProvider(threads=args.threads, concurrency=1),
        "inference service": InferenceProvider(server_url, model),
    }
    for provider in providers.values():
        await provider.warm_up()
    waves: dict[tuple[str, int], list[dict]] = {}
    titles: dict[tuple[str, bool], list[float]] = {}
    limit_binary = provision.ensure_llama_tool(Config(), "llama-batched-bench") if args.engine_limit else None
    options = None if args.natural_ends else fixed_length()
    for round_ in range(args.rounds):
        if limit_binary is not None:
            limits = await asyncio.to_thread(
                engine_limit, limit_binary, args.concurrency, args.max_tokens, args.threads
            )
            for n, tokens_per_s in limits.items():
                result = {
                    "aggregate_tokens_per_s": tokens_per_s, "per_stream_tokens_per_s": tokens_per_s / n,
                    "ttft_p50_ms": 0.0, "ttft_max_ms": 0.0,
                }  # fmt: skip
                waves.setdefault(("engine limit", n), []).append(result)
            print(f"round {round_ + 1} engine limit: {limits}", flush=True)
        for n in args.concurrency:
            for mode, provider in providers.items():
                result = await wave(provider, n, args.max_tokens, options)
                waves.setdefault((mode, n), []).append(result)
                print(
                    f"round {round_ + 1} {mode} x{n}: {result['aggregate_tokens_per_s']:.1f} tokens/s, "
                    f"TTFT p50 {result['ttft_p50_ms']:.0f} ms max {result['ttft_max_ms']:.0f} ms",
                    flush=True,
                )
        for mode, provider in providers.items():
            for with_title in (False, True):
                ttft = await reply_beside_a_title(provider, with_title)
                titles.setdefault((mode, with_title), []).append(ttft)
                print(
                    f"round {round_ + 1} {mode} reply TTFT, title running {with_title}: {ttft:.0f} ms",
                    flush=True,
                )
    for provider in providers.values():
        await provider.close()
    for (mode, with_title), ttfts in titles.items():
        print(f"{mode}: reply TTFT, title running {with_title}: median {statistics.median(ttfts):.0f} ms")
    rows = []
    for (mode, n), results in waves.items():
        row = {"mode": mode, "concurrent": n}
        row |= {key: round(statistics.median(r[key] for r in results), 1) for key in results[0]}
        rows.append(row)
    single = {r["mode"]: r["aggregate_tokens_per_s"] for r in rows if r["concurrent"] == 1}
    for row in rows:
        row["vs_one"] = (
            round(row["aggregate_tokens_per_s"] / single[row["mode"]], 2) if single.get(row["mode"]) else None
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--slots", type=int, default=4, help="the inference service's parallel slots")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads, both modes")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine-limit", action="store_true", help="also run llama-batched-bench each round")
    parser.add_argument("--natural-ends", action="store_true", help="replies end where the model ends them")
    parser.add_argument("--server-args", default="", help="more llama-server flags, e.g. '--prio 2'")
    parser.add_argument("--title-input-chars", type=int, help="characters of the message a title reads")
    args = parser.parse_args()
    if args.title_input_chars is not None:
        titles.TITLE_INPUT_CHARS = args.title_input_chars
    log_path = Path(tempfile.mkdtemp(prefix="bench-inference-")) / "llama-server.log"
    extra = tuple(shlex.split(args.server_args))
    with private_inference_server(
        free_port(), log_path, slots=args.slots, threads=args.threads, extra=extra
    ) as server:
        rows = asyncio.run(measure(args, server.url, server.model))
    print("| mode | N | tokens/s | vs one | TTFT p50 ms | TTFT max ms |\n|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["mode"], r["concurrent"])):
        print(
            f"| {r['mode']} | {r['concurrent']} | {r['aggregate_tokens_per_s']} | {r['vs_one']} | "
            f"{r['ttft_p50_ms']:.0f} | {r['ttft_max_ms']:.0f} |"
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
