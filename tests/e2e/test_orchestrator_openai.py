"""The orchestrator process with `LLM_PROVIDER=openai` against a real OpenAI-compatible server
(llama-cpp-python's `python -m llama_cpp.server` serving the bundled SmolLM2 GGUF): a request
published to Kafka streams through the endpoint into Redis and is stored."""

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from alice_common.events import ChatRequested, new_id
from alice_orchestrator.providers.local import bundled_model_path
from devstack.testing import ServiceProcess, free_port, service_env, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

TOKEN = "e2e-openai-token"
MODEL_ALIAS = "smollm2-via-server"


@pytest.fixture(scope="module")
def llm_endpoint(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path())]
    argv += ["--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--n_ctx", "2048", "--n_threads", "1", "--verbose", "false"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"llama_cpp.server not up: {log_path.read_text()[-2000:]}"
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def read_stream(redis, reply_id: str, timeout_s: float = 120) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    last = "0"
    deadline = time.monotonic() + timeout_s
    while not events or events[-1][0] not in ("done", "error"):
        assert time.monotonic() < deadline, events
        for _key, entries in await redis.xread({f"reply:{reply_id}": last}, block=1000) or []:
            for entry_id, fields in entries:
                last = entry_id
                events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_a_reply_streams_through_an_openai_compatible_endpoint(infra, llm_endpoint):
    prefix = f"e2e-openai-{uuid.uuid4().hex[:8]}."
    env = service_env(
        infra,
        kafka_topic_prefix=prefix,
        mongodb_database=unique_name("e2e_openai"),
        alice_internal_token=TOKEN,
        llm_provider="openai",
        llm_base_url=llm_endpoint,
        llm_model=MODEL_ALIAS,
        llm_api_key="unused-by-this-server",
        llm_max_tokens=24,
        llm_temperature=0.0,
    )
    with ServiceProcess("orchestrator", env, ready_timeout_s=120) as svc:
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
        await producer.start()
        redis = aioredis.from_url(infra.redis_url, decode_responses=True)
        headers = {"X-Internal-Token": TOKEN}
        try:
            async with httpx.AsyncClient(base_url=svc.url, headers=headers, timeout=30) as http:
                user = "user" + new_id()
                created = await http.post("/internal/conversations", params={"user_id": user}, json={})
                conversation = created.json()["id"]
                request = ChatRequested(
                    conversation_id=conversation,
                    user_id=user,
                    message_id=new_id(),
                    reply_id=new_id(),
                    content="Name three colours.",
                )
                await producer.send_and_wait(
                    f"{prefix}chat.requests", request.to_bytes(), key=conversation.encode()
                )
                events, last = [], "0"
                deadline = time.monotonic() + 120
                while not events or events[-1][0] not in ("done", "error"):
                    assert time.monotonic() < deadline, events
                    for _key, entries in (
                        await redis.xread({f"reply:{request.reply_id}": last}, block=1000) or []
                    ):
                        for entry_id, fields in entries:
                            last = entry_id
                            events.append((fields["event"], json.loads(fields["data"])))
                kinds = [k for k, _ in events]
                assert kinds[-1] == "done" and "token" in kinds, kinds
                done = events[-1][1]["message"]
                assert done["model"] == MODEL_ALIAS
                assert done["content"] == "".join(d["delta"] for k, d in events if k == "token")
                assert done["content"].strip() and done["usage"]["completion_tokens"] >= 1

                stored = await http.get(
                    f"/internal/conversations/{conversation}/messages", params={"user_id": user}
                )
                assert [m["role"] for m in stored.json()["items"]] == ["user", "assistant"]
                assert stored.json()["items"][1]["content"] == done["content"]
        finally:
            await producer.stop()
            await redis.aclose()
