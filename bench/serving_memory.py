"""Memory of the chat model's serving at 1 and at 3 orchestrator replicas (issue 26): each replica
loading the model in-process (`LLM_PROVIDER=local`) against every replica using one inference
service (`LLM_PROVIDER=inference`, llama.cpp's llama-server with `--slots` parallel slots).

For each (mode, replicas) it starts a backend and that many orchestrators (one consumer group)
against the native infrastructure (`python -m devstack up --infra`), in a database and topic
prefix of their own, removed at the end; in the inference mode also a private llama-server. Users
then chat until every orchestrator has written replies, and the resident memory (RSS, every process
of each service's session) is read:

    source scripts/env.sh
    $UV run --frozen python bench/serving_memory.py --replicas 1 3
"""

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support

from tests.support import chaos

MIB = 1024 * 1024


def session_rss_mib(pid: int) -> float:
    """Resident memory of every process in `pid`'s session (a service and its children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ProcessLookupError):
            continue
    return total / MIB


def replies_written(url: str) -> float:
    """How many replies this orchestrator finished, from its /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("alice_replies_total{") and 'status="completed"' in line
    )


async def chat_until_every_replica_replied(backend_url: str, orchestrators: list, users: int) -> None:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=backend_url, timeout=30, limits=limits) as api:
        people = await chaos.new_users(api, users, "bench-memory")
        for round_ in range(10):
            messages = [chaos.Message(u.index, u.conversation, f"Name {chaos.QUESTIONS[u.index % 8]}.")
                        for u in people]  # fmt: skip
            await asyncio.gather(*(chaos.deliver(api, u, m) for u, m in zip(people, messages, strict=True)))
            if all(replies_written(o.url) > 0 for o in orchestrators):
                return
            people = await chaos.new_users(api, users, f"bench-memory-{round_}")  # new partitions
    raise SystemExit("some orchestrator never replied: its partitions got no conversation")


def start(mode: str, replicas: int, args: argparse.Namespace, stack: ExitStack) -> dict[str, list]:
    from devstack.config import Config
    from devstack.inference import private_inference_server
    from devstack.testing import ServiceProcess, free_port

    run = uuid.uuid4().hex[:8]
    secrets = Config().secrets()
    base = dict(os.environ) | Config().service_env() | {
        "JWT_SECRET": secrets["JWT_SECRET"],
        "ALICE_INTERNAL_TOKEN": secrets["ALICE_INTERNAL_TOKEN"],
        "MONGODB_DATABASE": f"bench_memory_{run}",
        "KAFKA_TOPIC_PREFIX": f"bench-memory-{run}.",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "LLM_PROVIDER": mode,
        "LLM_MAX_TOKENS": "24",
        "LLM_TEMPERATURE": "0",
    }  # fmt: skip
    stack.callback(remove_data, base)
    services: dict[str, list] = {"inference": []}
    if mode == "inference":
        log = Path(tempfile.mkdtemp(prefix="bench-memory-")) / "llama-server.log"
        server = stack.enter_context(private_inference_server(free_port(), log, slots=args.slots))
        base["INFERENCE_URL"] = server.url
        services["inference"] = [server.proc]
    orchestrators = []
    for _ in range(replicas):
        orchestrator = ServiceProcess("orchestrator", base, ready_timeout_s=240)
        stack.callback(orchestrator.stop)
        orchestrator.start()
        orchestrators.append(orchestrator)
    backend = ServiceProcess(
        "backend",
        base
        | {
            "ORCHESTRATOR_URL": orchestrators[0].url,
            "REGISTER_RATE_PER_IP_CAPACITY": "100000",
            "REGISTER_RATE_PER_IP_PER_S": "100000",
            "MAX_REGISTRATIONS_PER_HOUR": "10000000",
            "SEND_RATE_CAPACITY": "100000",
            "SEND_RATE_PER_S": "100000",
        },
    )
    stack.callback(backend.stop)
    backend.start()
    services["orchestrators"] = orchestrators
    services["backend"] = [backend]
    return services


def remove_data(base: dict) -> None:
    from devstack.testing.testdata import Ownership, remove_owned

    ownership = Ownership(base["KAFKA_TOPIC_PREFIX"], base["MONGODB_DATABASE"], frozenset())
    remove_owned(base["KAFKA_BOOTSTRAP_SERVERS"], base["MONGODB_URL"], ownership)


def measure(mode: str, replicas: int, args: argparse.Namespace) -> dict:
    with ExitStack() as stack:
        services = start(mode, replicas, args, stack)
        orchestrators = services["orchestrators"]
        asyncio.run(chat_until_every_replica_replied(services["backend"][0].url, orchestrators, args.users))
        each = [session_rss_mib(o.proc.pid) for o in orchestrators]
        inference = sum(session_rss_mib(p.pid) for p in services["inference"])
    return {
        "mode": mode,
        "replicas": replicas,
        "orchestrator_each_mib": [round(m) for m in each],
        "orchestrators_mib": round(sum(each)),
        "inference_mib": round(inference),
        "total_mib": round(sum(each) + inference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--modes", nargs="+", default=["local", "inference"], choices=["local", "inference"])
    parser.add_argument("--slots", type=int, default=4, help="the inference service's parallel slots")
    parser.add_argument("--users", type=int, default=6, help="users (conversations) per round of chat")
    args = parser.parse_args()
    rows = []
    for replicas in args.replicas:
        for mode in args.modes:
            row = measure(mode, replicas, args)
            print(row, flush=True)
            rows.append(row)
    print("| serving | orchestrators | each MiB | orchestrators MiB | inference MiB | total MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        each = ", ".join(map(str, r["orchestrator_each_mib"]))
        print(
            f"| {r['mode']} | {r['replicas']} | {each} | {r['orchestrators_mib']} | {r['inference_mib']} | "
            f"{r['total_mib']} |"
        )


if __name__ == "__main__":
    main()
