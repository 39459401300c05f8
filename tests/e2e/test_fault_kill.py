"""Fault tolerance of the chat path (issue 2): SIGKILL the orchestrator mid-reply (of an edited
message: issue 27), start a new one.

The client keeps its SSE stream open through the crash and sees `reset` followed by a complete
reply (`done`); exactly one assistant message is stored for the request. Real processes, real
Kafka/Redis/MongoDB and the real local model.
"""

import asyncio
import time

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocol
from alice_common.reply_stream import DONE, RESET, TOKEN
from devstack.testing import ServiceProcess

from tests.support.stack import (
    Stack,
    follow,
    isolation,
    kafka_and_redis,
    new_chat_request,
    publish_chat,
    reply_killed_at_first_token,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

# Long enough that a kill lands mid-reply, short enough to keep the tests quick.
ORCHESTRATOR = dict(
    llm_provider="local", llm_max_tokens=48, llm_temperature=0.0, chat_consumer_session_timeout_ms=6000
)


async def test_sigkill_mid_reply_then_a_new_replica_resets_and_completes(infra):
    orchestrator_settings = ORCHESTRATOR | {"ready_timeout_s": 120}
    with Stack(infra, isolation("fault"), orchestrator=orchestrator_settings, backend={}) as up:
        orchestrator = up["orchestrator"]

        async def kill() -> None:
            await asyncio.to_thread(orchestrator.kill)  # SIGKILL: no shutdown code runs
            await asyncio.to_thread(orchestrator.start)  # same port, same group

        async with httpx.AsyncClient(base_url=up["backend"].url, timeout=30) as client:
            # An edit: the tree comes out of the crash whole, with one reply per version.
            await reply_killed_at_first_token(client, "fault", kill, read_timeout_s=300, as_edit=True)


async def test_sigterm_mid_reply_finishes_or_hands_over_without_duplicates(infra):
    """Graceful shutdown: the replica stops fetching, lets the reply finish (or abandons it
    uncommitted after its drain timeout); after a restart the stream ends with exactly one
    `done` and exactly one reply is stored."""
    token = "e2e-term-token-long-enough-to-be-a-secret"
    shared = isolation("term") | {"alice_internal_token": token}
    prefix = shared["kafka_topic_prefix"]
    orchestrator_settings = ORCHESTRATOR | {"ready_timeout_s": 120}
    with Stack(infra, shared, orchestrator=orchestrator_settings) as up:
        orchestrator = up["orchestrator"]
        async with (
            kafka_and_redis(infra) as (producer, redis),
            httpx.AsyncClient(base_url=orchestrator.url, headers={"X-Internal-Token": token}) as http,
        ):
            request = await new_chat_request(http, "Write a few sentences about mountains.")
            user, conversation = request.user_id, request.conversation_id
            await publish_chat(producer, prefix, request)

            terminated: list[bool] = []

            async def terminate_on_first_token(event: tuple[str, dict]) -> None:
                if event[0] == TOKEN and not terminated:
                    terminated.append(True)
                    stopping = time.monotonic()
                    await asyncio.to_thread(orchestrator.stop, 40)  # SIGTERM, SIGKILL only after 40 s
                    assert not orchestrator.running
                    assert time.monotonic() - stopping < 35, "graceful shutdown took too long"
                    await asyncio.to_thread(orchestrator.start)

            events = await follow(redis, request.reply_id, on_event=terminate_on_first_token, timeout_s=180)
            kinds = [kind for kind, _ in events]
            assert kinds.count(DONE) == 1 and kinds[-1] == DONE, kinds
            if RESET in kinds:
                after = events[kinds.index(RESET) + 1 :]
            else:
                after = events
            text = "".join(data["delta"] for kind, data in after if kind == TOKEN)
            assert events[-1][1]["message"]["content"] == text and text.strip()
            listed = await http.get(
                f"/internal/conversations/{conversation}/messages", params={"user_id": user}
            )
            roles = [m["role"] for m in listed.json()["items"]]
            assert roles == ["user", "assistant"]


async def group_assignment(admin: AIOKafkaAdminClient, group: str) -> list[list[int]]:
    """Partitions of each member of a consumer group, as the broker has them now."""
    described = await admin.describe_consumer_groups([group])
    shares = []
    for response in described:
        for group_row in response.groups:
            for member in group_row[5]:
                assignment = member[-1]
                if assignment:
                    decoded = ConsumerProtocol.ASSIGNMENT.decode(assignment)
                    shares.append(sorted(tp.partition for tp in decoded.partitions()))
                else:
                    shares.append([])
    return shares


async def test_a_second_orchestrator_joining_mid_reply_leaves_the_reply_running(infra):
    """Scale-out during a long generation: the group rebalances onto two orchestrator processes
    while the first is generating; the reply goes on, without `reset`, to exactly one `done`,
    and the new replica serves the partitions it got. The pipeline (Kafka group membership), not
    the text, is under test, so the fake model paces a reply of ~25 s."""
    token = "e2e-join-token-long-enough-to-be-a-secret"
    shared = isolation("join") | {"alice_internal_token": token}
    prefix = shared["kafka_topic_prefix"]
    paced = dict(
        llm_provider="fake", llm_fake_token_interval_ms=100, llm_max_tokens=250,
        chat_consumer_session_timeout_ms=6000,
    )  # fmt: skip
    with Stack(infra, shared, orchestrator=paced) as up:
        first = up["orchestrator"]
        second = ServiceProcess("orchestrator", first.env)
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
        await admin.start()
        try:
            async with (
                kafka_and_redis(infra) as (producer, redis),
                httpx.AsyncClient(base_url=first.url, headers={"X-Internal-Token": token}) as http,
            ):
                request = await new_chat_request(http, "Tell me a long story.")
                await publish_chat(producer, prefix, request)
                shared_at: list[float] = []

                async def join_on_first_token(event: tuple[str, dict]) -> None:
                    if event[0] == TOKEN and not second.running:
                        await asyncio.to_thread(second.start)
                        deadline = time.monotonic() + 60
                        while True:  # until both members consume: the rebalance happened
                            shares = await group_assignment(admin, f"{prefix}orchestrator")
                            if len(shares) == 2 and all(shares):
                                shared_at.append(time.monotonic())
                                return
                            assert time.monotonic() < deadline, f"group never split: {shares}"
                            await asyncio.sleep(0.2)

                events = await follow(redis, request.reply_id, on_event=join_on_first_token, timeout_s=180)
                done_at = time.monotonic()
                kinds = [kind for kind, _ in events]
                assert shared_at and shared_at[0] < done_at, "the rebalance did not happen mid-reply"
                assert RESET not in kinds and kinds.count(DONE) == 1 and kinds[-1] == DONE, kinds
                text = "".join(data["delta"] for kind, data in events if kind == TOKEN)
                assert kinds.count(TOKEN) >= 1 and len(text.split()) == 250
                assert events[-1][1]["message"]["content"] == text

                # Both replicas take new work: requests in fresh conversations all complete once.
                more = [await new_chat_request(http, f"Question {i}") for i in range(6)]
                for extra in more:
                    await publish_chat(producer, prefix, extra)
                for extra in [*more, request]:
                    followed = [k for k, _ in await follow(redis, extra.reply_id, timeout_s=120)]
                    assert followed.count(DONE) == 1, followed
                    listed = await http.get(
                        f"/internal/conversations/{extra.conversation_id}/messages",
                        params={"user_id": extra.user_id},
                    )
                    assert [m["role"] for m in listed.json()["items"]] == ["user", "assistant"]
        finally:
            await admin.close()
            second.stop()
