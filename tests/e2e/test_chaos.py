"""No message lost, none twice, under a harsh crash schedule (issue 22, "Acceptance"): 8 users chat
while the orchestrator is SIGKILLed 20 times at most 15 s apart (and started again each time), and
Kafka, Redis and the Mongo-protocol store each restart once. Every accepted message must end with
exactly one completed reply, equal to the stored one; no user message is stored twice; nothing is
dead-lettered.

The restarted servers are the test's own (`second_devstack`: Kafka, Redis, FerretDB on free ports);
Weaviate is the shared one, never restarted. The real local model writes the replies. The schedule
and the users are tests/support/chaos.py (shared with bench/crash_cost.py and the cluster stage).
"""

import asyncio

import httpx
import pytest
from devstack.testing import ServiceProcess

from tests.support import chaos
from tests.support.stack import UNTHROTTLED, Stack, isolation

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

USERS = 8
ORCHESTRATOR = dict(
    llm_provider="local", llm_max_tokens=12, llm_temperature=0.0, chat_consumer_session_timeout_ms=6000
)
BACKEND = UNTHROTTLED | {
    "send_rate_capacity": 10_000,
    "send_rate_per_s": 10_000,
    "max_concurrent_generations": 1000,
    "max_streams_per_user": 1000,
}
PRIVATE = ("redis", "kafka", "mongodb")


def private_stores(ds) -> dict[str, str]:
    """The second devstack's Redis, Kafka and FerretDB, started; their settings for the services."""
    started = ds("start", *PRIVATE, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    return {
        "redis_url": ds.redis_url,
        "kafka_bootstrap_servers": f"127.0.0.1:{ds.ports['ALICE_KAFKA_PORT']}",
        "mongodb_url": ds.mongodb_url,
    }


def restart(ds, name: str):
    async def action() -> None:
        for verb in ("stop", "start"):
            result = await asyncio.to_thread(ds, verb, name, timeout=180)
            assert result.returncode == 0, f"{verb} {name}: {result.stdout}{result.stderr}"

    return name, action


def schedule(ds) -> chaos.Schedule:
    # Kafka early (its publish timeouts are what the idempotent retries settle), the others spread out.
    return chaos.Schedule(
        kills=20,
        restarts={4: restart(ds, "kafka"), 9: restart(ds, "redis"), 14: restart(ds, "mongodb")},
    )


async def chat_through_the_schedule(infra, ds, name: str, replicas: int, capsys) -> None:
    stores = private_stores(ds)
    shared = isolation(name) | stores
    orchestrator = ORCHESTRATOR | {"ready_timeout_s": 180}
    with Stack(infra, shared, orchestrator=orchestrator, backend=BACKEND) as up:
        # With two replicas the backend's internal calls go to the one that keeps running, as a
        # Service would send them to the ready pod; the other is the victim.
        first = up["orchestrator"]
        victim = chaos.Supervised(first if replicas == 1 else ServiceProcess("orchestrator", first.env))
        supervising = asyncio.create_task(victim.supervise())
        try:
            if replicas == 2:
                await asyncio.to_thread(victim.process.start)
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
            async with httpx.AsyncClient(base_url=up["backend"].url, timeout=30, limits=limits) as api:
                users = await chaos.new_users(api, USERS, name)
                with capsys.disabled():
                    print(f"\n{name}: {replicas} orchestrator(s), {USERS} users")
                    outcome = await chaos.run(api, users, schedule(ds), victim.kill, victim.ready)
                stored = await chaos.stored_messages(api, users)
            dead = await chaos.dead_letters(stores["kafka_bootstrap_servers"], shared["kafka_topic_prefix"])
            survivor_exit = None if replicas == 1 or first.running else first.proc.returncode
        finally:
            supervising.cancel()
            if replicas == 2:
                victim.process.stop()
    found = chaos.findings(outcome, stored, dead)
    if survivor_exit is not None:
        found["the replica not killed exited"] = [f"exit code {survivor_exit}"]
    report = chaos.verdict(outcome, found)
    with capsys.disabled():
        print(f"{name}: {report}\n  orchestrator exits by itself: {victim.exits}")
    assert len(outcome.kill_times) == 20, report
    on_time = sorted(outcome.kill_gaps_s)[: len(outcome.kill_gaps_s) - outcome.late_kills]
    assert max(on_time) <= 15, report
    assert len(outcome.accepted) >= 50, report
    assert not any(found.values()), report


async def test_eight_users_through_twenty_kills_and_three_store_restarts(infra, second_devstack, capsys):
    await chat_through_the_schedule(infra, second_devstack, "chaos", 1, capsys)


async def test_the_same_with_a_second_replica_that_is_never_killed(infra, second_devstack, capsys):
    await chat_through_the_schedule(infra, second_devstack, "chaos2", 2, capsys)
