"""The local model under concurrency: aggregate tokens/s and time to first token with N generations
at once, for each way of serving them (model instances = parallel slots; one instance = a queue).

    source scripts/env.sh
    $UV run --frozen python bench/local_model.py --concurrency 1 2 4 8 --instances 1 2 --rounds 3

Each cell runs `--rounds` waves of N simultaneous generations of `--max-tokens` tokens at
temperature 0 (so every wave does the same work) and prints medians over the waves: TTFT p50 and
max (the last in the queue), aggregate tokens/s, and per-stream tokens/s once streaming.
"""

import argparse
import asyncio
import json
import statistics
import time

from alice_orchestrator.providers.base import ChatProvider
from alice_orchestrator.providers.local import LocalProvider

QUESTIONS = [
    "Explain how a bicycle stays upright.",
    "Write a short poem about the sea.",
    "What is photosynthesis?",
    "Give three tips for learning a language.",
]


async def one(
    provider: ChatProvider, question: str, max_tokens: int, started: float, options: dict | None = None
) -> dict:
    generation = provider.stream(
        [{"role": "user", "content": question}], max_tokens=max_tokens, temperature=0.0, options=options
    )
    first = None
    async for _delta in generation:
        first = first or time.perf_counter()
    done = time.perf_counter()
    tokens = generation.completion_tokens
    streaming_s = done - (first or done)
    return {
        "ttft_s": (first or done) - started,
        "tokens": tokens,
        "stream_tokens_per_s": (tokens - 1) / streaming_s if streaming_s > 0 and tokens > 1 else 0.0,
        "end_s": done - started,
    }


async def wave(provider: ChatProvider, n: int, max_tokens: int, options: dict | None = None) -> dict:
    started = time.perf_counter()
    runs = await asyncio.gather(
        *(one(provider, QUESTIONS[i % len(QUESTIONS)], max_tokens, started, options) for i in range(n))
    )
    wall = max(r["end_s"] for r in runs)
    ttfts = sorted(r["ttft_s"] for r in runs)
    return {
        "ttft_p50_ms": statistics.median(ttfts) * 1000,
        "ttft_max_ms": ttfts[-1] * 1000,
        "tokens": sum(r["tokens"] for r in runs),
        "aggregate_tokens_per_s": sum(r["tokens"] for r in runs) / wall,
        "per_stream_tokens_per_s": statistics.median(r["stream_tokens_per_s"] for r in runs),
    }


async def measure(args: argparse.Namespace) -> list[dict]:
    rows = []
    for instances in args.instances:
        provider = LocalProvider(threads=args.threads, concurrency=instances)
        await provider.warm_up()
        for n in args.concurrency:
            waves = [await wave(provider, n, args.max_tokens) for _ in range(args.rounds)]
            row = {"instances": instances, "concurrent": n}
            row |= {key: round(statistics.median(w[key] for w in waves), 1) for key in waves[0]}
            rows.append(row)
            print(
                f"instances {instances} concurrent {n}: TTFT p50 {row['ttft_p50_ms']:.0f} ms, max "
                f"{row['ttft_max_ms']:.0f} ms | {row['aggregate_tokens_per_s']:.1f} tokens/s in all, "
                f"{row['per_stream_tokens_per_s']:.1f} per stream",
                flush=True,
            )
        await provider.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2], help="model instances (slots)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads per instance")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
