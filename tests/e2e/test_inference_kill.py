"""The inference service killed mid-reply (issue 26): the orchestrator's attempt fails, the
consume loop retries once the service is back (restarted on its port, as a supervisor does), and
the client sees `reset` then exactly one completed reply, which is what is stored."""

import asyncio

import httpx
import pytest
from devstack.inference import InferenceServer
from devstack.testing import free_port

from tests.support.stack import Stack, isolation, reply_killed_at_first_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


async def test_sigkill_of_the_inference_service_mid_reply_resets_and_completes_once(infra, tmp_path):
    server = InferenceServer(free_port(), tmp_path / "llama-server.log", slots=2)
    server.start()
    orchestrator = dict(
        llm_provider="inference", inference_url=server.url, llm_max_tokens=48, llm_temperature=0.0,
        ready_timeout_s=120,
    )  # fmt: skip
    try:
        with Stack(infra, isolation("inference-kill"), orchestrator=orchestrator, backend={}) as up:

            async def kill() -> None:
                await asyncio.to_thread(server.kill)  # SIGKILL: the reply's connection breaks
                await asyncio.to_thread(server.start)

            async with httpx.AsyncClient(base_url=up["backend"].url, timeout=30) as client:
                await reply_killed_at_first_token(client, "inference-kill", kill, read_timeout_s=300)
    finally:
        server.stop()
