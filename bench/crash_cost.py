"""What an orchestrator crash costs the users (issue 22): users chat with the real local model while
the orchestrator is SIGKILLed N times and started again at once (as a supervisor would). Reports:

  * per kill, the time from the kill to the first token generated again (any reply): median and
    p90 over the kills. A token's time is its reply-stream id (the Redis stream id, milliseconds
    of this machine's clock), so a client's own lag does not count. A kill followed by the next
    one before any token is counted apart ("censored"): make --interval longer than a restart;
  * the share of accepted messages whose stream said `reset` (a reply restarted from scratch);
  * whether every accepted message still ended with one completed reply (the checks of
    tests/e2e/test_chaos.py, whose schedule and users this shares: tests/support/chaos.py).

It starts its own orchestrator and backend against the native infrastructure
(`python -m devstack up --infra`), in a database and topic prefix of their own, removed at the end:

    source scripts/env.sh
    $UV run --frozen python bench/crash_cost.py --kills 12 --interval 15 --users 4
"""

import argparse
import asyncio
import os
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

# Run as a script: its folder is on sys.path, the repo root (for tests.support) is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import chaos


def start_services(args: argparse.Namespace, stack: ExitStack) -> tuple[str, chaos.Supervised, dict]:
    from devstack.config import Config
    from devstack.testing import ServiceProcess

    run = uuid.uuid4().hex[:8]
    secrets = Config().secrets()  # one token for every service here: the backend falls back to it
    base = dict(os.environ) | Config().service_env() | {
        "JWT_SECRET": secrets["JWT_SECRET"],
        "ALICE_INTERNAL_TOKEN": secrets["ALICE_INTERNAL_TOKEN"],
        "MONGODB_DATABASE": f"bench_crash_{run}",
        "KAFKA_TOPIC_PREFIX": f"bench-crash-{run}.",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }  # fmt: skip
    stack.callback(remove_data, base)  # last, after the services stopped
    orchestrator = ServiceProcess(
        "orchestrator",
        base
        | {
            "LLM_PROVIDER": "local",
            "LLM_MAX_TOKENS": str(args.max_tokens),
            "LLM_TEMPERATURE": "0",
            "CHAT_CONSUMER_SESSION_TIMEOUT_MS": str(args.session_timeout_ms),
        },
        ready_timeout_s=180,
    )
    stack.callback(orchestrator.stop)
    orchestrator.start()
    backend = ServiceProcess(
        "backend",
        base
        | {
            "ORCHESTRATOR_URL": orchestrator.url,
            "REGISTER_RATE_PER_IP_CAPACITY": "100000",
            "REGISTER_RATE_PER_IP_PER_S": "100000",
            "MAX_REGISTRATIONS_PER_HOUR": "10000000",
            "SEND_RATE_CAPACITY": "100000",
            "SEND_RATE_PER_S": "100000",
            "MAX_CONCURRENT_GENERATIONS": "100000",
            "MAX_STREAMS_PER_USER": "100000",
        },
    )
    stack.callback(backend.stop)
    backend.start()
    return backend.url, chaos.Supervised(orchestrator), base


def remove_data(base: dict) -> None:
    from devstack.testing.testdata import Ownership, remove_owned

    ownership = Ownership(base["KAFKA_TOPIC_PREFIX"], base["MONGODB_DATABASE"], frozenset())
    remove_owned(base["KAFKA_BOOTSTRAP_SERVERS"], base["MONGODB_URL"], ownership)


async def measure(args: argparse.Namespace, backend_url: str, victim: chaos.Supervised, base: dict) -> int:
    supervising = asyncio.create_task(victim.supervise())
    schedule = chaos.Schedule(
        kills=args.kills,
        interval_s=args.interval,
        dwell_s=args.dwell,
        warmup_s=args.warmup,
        pace_s=args.pace,
        drain_s=args.drain,
    )
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
    try:
        async with httpx.AsyncClient(base_url=backend_url, timeout=30, limits=limits) as api:
            users = await chaos.new_users(api, args.users, "bench-crash")
            outcome = await chaos.run(api, users, schedule, victim.kill, victim.ready)
            stored = await chaos.stored_messages(api, users)
    finally:
        supervising.cancel()
    dead = await chaos.dead_letters(base["KAFKA_BOOTSTRAP_SERVERS"], base["KAFKA_TOPIC_PREFIX"])
    found = chaos.findings(outcome, stored, dead)
    costs, _ = outcome.crash_costs_s()
    print(chaos.verdict(outcome, found))
    print(f"orchestrator exits by itself: {len(victim.exits)}")
    print(outcome.crash_cost_line() + (f", max {max(costs):.1f} s" if costs else ""))
    print(f"messages that needed a reset: {outcome.reset_share():.0%} of {len(outcome.accepted)} accepted")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--interval", type=float, default=15.0, help="most seconds between kills")
    parser.add_argument("--dwell", type=float, default=3.0, help="kill this long after ready")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of traffic before the first kill")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--pace", type=float, default=20.0, help="seconds between one user's messages")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--session-timeout-ms", type=int, default=6000, help="the chat consumer's")
    parser.add_argument(
        "--drain", type=float, default=180.0, help="bound on the replies' end after the last kill"
    )
    args = parser.parse_args()
    with ExitStack() as stack:
        backend_url, victim, base = start_services(args, stack)
        sys.exit(asyncio.run(measure(args, backend_url, victim, base)))


if __name__ == "__main__":
    main()
