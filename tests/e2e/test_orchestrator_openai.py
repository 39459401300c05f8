"""The orchestrator process with `LLM_PROVIDER=openai` against a real OpenAI-compatible server
(llama-cpp-python's `python -m llama_cpp.server` serving the bundled SmolLM2 GGUF): a request
published to Kafka streams through the endpoint into Redis and is stored."""

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from alice_orchestrator.providers.local import bundled_model_path
from devstack.testing import free_port
from stack import Stack, follow, isolation, kafka_and_redis, new_chat_request, publish_chat

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


async def test_a_reply_streams_through_an_openai_compatible_endpoint(infra, llm_endpoint):
    shared = isolation("openai") | {"alice_internal_token": TOKEN}
    orchestrator = dict(
        llm_provider="openai",
        llm_base_url=llm_endpoint,
        llm_model=MODEL_ALIAS,
        llm_api_key="unused-by-this-server",
        llm_max_tokens=24,
        llm_temperature=0.0,
        ready_timeout_s=120,
    )
    with Stack(infra, shared, orchestrator=orchestrator) as up:
        headers = {"X-Internal-Token": TOKEN}
        async with (
            kafka_and_redis(infra) as (producer, redis),
            httpx.AsyncClient(base_url=up["orchestrator"].url, headers=headers, timeout=30) as http,
        ):
            request = await new_chat_request(http, "Name three colours.")
            user, conversation = request.user_id, request.conversation_id
            await publish_chat(producer, shared["kafka_topic_prefix"], request)
            events = await follow(redis, request.reply_id, timeout_s=120)
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
